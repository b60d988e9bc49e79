package controller

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/plan"
)

// computeStatus is the binding's new status: a pure function of the snapshot
// the reconcile started from and the outcome of its sync. It claims Synced
// only when the observation shows the snapshot's spec met.
func computeStatus(snap *v1alpha1.PersonaBinding, out *outcome) v1alpha1.PersonaBindingStatus {
	st := *snap.Status.DeepCopy()
	st.ObservedGeneration = snap.Generation
	st.LastHandledReconcileAt = snap.Annotations[v1alpha1.ReconcileRequestedAtAnnotation]
	switch {
	case out.obs.name != "":
		st.PersonaName = out.obs.name
	case st.PersonaName == "":
		st.PersonaName = snap.Spec.PersonaID // until Bland tells us its name
	}
	st.BoundNumbers = out.owned.list()
	st.PendingDetach = out.pendingDetach
	st.Numbers = numberStatuses(snap, out)

	desired := sets.New(snap.Spec.InboundNumbers...)
	attached := 0
	for n := range desired {
		if _, ok := out.obs.numbers[n]; ok && out.conflicts[n] == "" {
			attached++
		}
	}
	st.Summary = fmt.Sprintf("%d/%d", attached, desired.Len())

	state, reason, msg := assess(snap, out, attached)
	setConditions(&st, snap.Generation, state, reason, msg)
	return st
}

// assess picks the Ready reason and message, worst first.
func assess(snap *v1alpha1.PersonaBinding, out *outcome, attached int) (readiness, string, string) {
	if out.err != nil {
		v := classify(out.err, credentialsSource(snap))
		return v.state, v.reason, v.message
	}
	switch {
	case snap.Spec.Suspend:
		if out.plan.Empty() {
			return suspendedInSync, v1alpha1.ReasonSuspended, "suspended; the persona matches the spec"
		}
		return suspendedPending, v1alpha1.ReasonSuspended, "suspended; would " + describePlan(out.plan)
	case len(out.pendingDetach) > 0:
		return stalled, v1alpha1.ReasonDetachLimitExceeded, detachLimitMessage(snap, out.pendingLimit, out.pendingDetach)
	case out.notOwned.Len() > 0:
		return stalled, v1alpha1.ReasonNumberNotOwned, "numbers not in the Bland account: " + listNumbers(sets.List(out.notOwned))
	case len(out.conflicts) > 0:
		return stalled, v1alpha1.ReasonNumberConflict, describeConflicts(out.conflicts)
	}
	if unmet := unmetSpec(snap, out); unmet != "" {
		return progressing, v1alpha1.ReasonProgressing, unmet
	}
	return ready, v1alpha1.ReasonSynced, fmt.Sprintf("%d/%d numbers attached to persona %s", attached, len(snap.Spec.InboundNumbers), snap.Spec.PersonaID)
}

// unmetSpec says what the observation still lacks for the snapshot's spec, or
// "" when the spec is met: every desired number this binding may hold is
// attached with its settings, no number it dropped is still attached, and in
// exclusive mode nothing unlisted is left.
func unmetSpec(snap *v1alpha1.PersonaBinding, out *outcome) string {
	desired := sets.New(snap.Spec.InboundNumbers...)
	want := wantedSettings(&snap.Spec)
	var missing, settings, dropped, stray []string
	for _, n := range sets.List(desired) {
		if out.conflicts[n] != "" || out.notOwned.Has(n) {
			continue
		}
		current, ok := out.obs.numbers[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case !want[n].IsEmpty() && !want[n].Equal(current):
			settings = append(settings, n)
		case want[n].IsEmpty() && !out.applied[n].IsEmpty() && !current.IsEmpty():
			settings = append(settings, n)
		}
	}
	for _, n := range out.owned.list() {
		if !desired.Has(n) {
			dropped = append(dropped, n)
		}
	}
	if snap.Spec.Exclusive && !out.lostPersona {
		for _, n := range keys(out.obs.numbers) {
			if !desired.Has(n) && !out.protected[n] && out.handedOver[n] == "" {
				stray = append(stray, n)
			}
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "not attached yet: "+listNumbers(missing))
	}
	if len(settings) > 0 {
		parts = append(parts, "settings not applied yet: "+listNumbers(settings))
	}
	if len(dropped) > 0 {
		parts = append(parts, "dropped but still attached: "+listNumbers(dropped))
	}
	if len(stray) > 0 {
		parts = append(parts, "unlisted numbers still attached: "+listNumbers(stray))
	}
	return strings.Join(parts, "; ")
}

// setConditions keeps Ready always present, and Reconciling and Stalled only
// while true. lastTransitionTime moves only when a condition's status does.
func setConditions(st *v1alpha1.PersonaBindingStatus, gen int64, state readiness, reason, msg string) {
	conds := &st.Conditions
	readyStatus := metav1.ConditionFalse
	if state == ready || state == suspendedInSync {
		readyStatus = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReady, Status: readyStatus, Reason: reason, Message: msg, ObservedGeneration: gen})
	if state == progressing {
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen})
	} else {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
	}
	if state == stalled {
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen})
	} else {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	}
}

// numberStatuses lists every desired or owned number with its state.
func numberStatuses(snap *v1alpha1.PersonaBinding, out *outcome) []v1alpha1.NumberStatus {
	desired := sets.New(snap.Spec.InboundNumbers...)
	all := desired.Union(out.owned.numbers)
	result := make([]v1alpha1.NumberStatus, 0, all.Len())
	for _, n := range sets.List(all) {
		ns := v1alpha1.NumberStatus{Number: n}
		_, attached := out.obs.numbers[n]
		switch {
		case !desired.Has(n) && slices.Contains(out.pendingDetach, n):
			ns.State, ns.Message = v1alpha1.NumberPending, "dropped from the spec; the detach waits for approval (detach limit)"
		case !desired.Has(n):
			ns.State, ns.Message = v1alpha1.NumberPending, "dropped from the spec; waiting to be detached"
		case out.conflicts[n] != "":
			ns.State, ns.Message = v1alpha1.NumberConflict, "held by older PersonaBinding "+out.conflicts[n]
		case out.notOwned.Has(n):
			ns.State, ns.Message = v1alpha1.NumberNotOwned, "not in the Bland account of the API key"
		case attached:
			ns.State = v1alpha1.NumberAttached
			if out.applied[n] != nil {
				ns.AppliedSettings = fromBland(out.applied[n])
			}
		case snap.Spec.Suspend:
			ns.State, ns.Message = v1alpha1.NumberPending, "suspended; not attached"
		case out.err != nil:
			ns.State, ns.Message = v1alpha1.NumberError, "not attached: the last sync failed (see the Ready condition)"
		default:
			ns.State, ns.Message = v1alpha1.NumberPending, "not attached yet"
		}
		result = append(result, ns)
	}
	if len(result) == 0 {
		return nil
	}
	return result
}

func describePlan(p plan.Plan) string {
	var parts []string
	if len(p.Attach) > 0 {
		parts = append(parts, "attach "+listNumbers(p.Attach))
	}
	if len(p.Detach) > 0 {
		parts = append(parts, "detach "+listNumbers(p.Detach))
	}
	if len(p.Settings) > 0 {
		var nums []string
		for _, c := range p.Settings {
			nums = append(nums, c.Number)
		}
		parts = append(parts, "update the settings of "+listNumbers(nums))
	}
	return strings.Join(parts, "; ")
}

func describeConflicts(c conflictSet) string {
	byHolder := map[string][]string{}
	for n, holder := range c {
		byHolder[holder] = append(byHolder[holder], n)
	}
	var parts []string
	for _, holder := range keys(byHolder) {
		nums := byHolder[holder]
		slices.Sort(nums)
		parts = append(parts, fmt.Sprintf("%s held by older PersonaBinding %s", listNumbers(nums), holder))
	}
	return strings.Join(parts, "; ")
}

func readyReason(pb *v1alpha1.PersonaBinding) string {
	if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

func readyMessage(pb *v1alpha1.PersonaBinding) string {
	if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}
