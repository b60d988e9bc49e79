package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/plan"
)

// readiness is how the binding stands, in kstatus terms.
type readiness int

const (
	ready            readiness = iota // Ready=True
	progressing                       // Reconciling=True: retrying on its own
	stalled                           // Stalled=True: needs a person
	suspendedInSync                   // suspended, and nothing would change
	suspendedPending                  // suspended, with changes waiting
)

// setStatus writes everything the sync learned into status. It is a pure
// function of the binding and the sync's outcome.
func setStatus(pb *v1alpha1.PersonaBinding, s *syncState) {
	st := &pb.Status
	st.ObservedGeneration = pb.Generation
	st.LastHandledReconcileAt = pb.Annotations[v1alpha1.ReconcileRequestedAtAnnotation]
	if s.obs.name != "" {
		st.PersonaName = s.obs.name
	}

	desired := toSet(pb.Spec.InboundNumbers)
	if s.obs.complete {
		// Ownership: what we held or want, and is really on the persona now.
		bound := map[string]bool{}
		for n := range s.obs.numbers {
			if s.bound[n] || (desired[n] && s.conflicts[n] == "" && !pb.Spec.Suspend) {
				bound[n] = true
			}
		}
		s.bound = bound
	}
	st.BoundNumbers = keys(s.bound)
	if len(st.BoundNumbers) == 0 {
		st.BoundNumbers = nil
	}
	st.Numbers = numberStatuses(pb, s, desired)

	attached := 0
	for n := range desired {
		if _, ok := s.obs.numbers[n]; ok && s.conflicts[n] == "" {
			attached++
		}
	}
	st.Summary = fmt.Sprintf("%d/%d", attached, len(desired))

	state, reason, msg := assess(pb, s)
	setConditions(pb, state, reason, msg)
}

// assess picks the Ready reason and message, worst first.
func assess(pb *v1alpha1.PersonaBinding, s *syncState) (readiness, string, string) {
	var cred *errCredentials
	be, isBland := bland.AsError(s.err)
	switch {
	case errors.As(s.err, &cred):
		return stalled, v1alpha1.ReasonCredentialsNotFound, cred.msg
	case isBland && be.Kind == bland.KindUnauthorized:
		return stalled, v1alpha1.ReasonUnauthorized, fmt.Sprintf("Bland rejected the API key from Secret %q: %s", pb.Spec.CredentialsRef.Name, be.Error())
	case isBland && be.Kind == bland.KindNotFound:
		return stalled, v1alpha1.ReasonPersonaNotFound, fmt.Sprintf("persona %q does not exist or the API key may not see it", pb.Spec.PersonaID)
	case isBland && be.Kind == bland.KindNumberNotOwned && len(s.notOwned) == 0:
		return stalled, v1alpha1.ReasonNumberNotOwned, be.Error()
	case isBland && be.Kind == bland.KindRateLimited:
		return progressing, v1alpha1.ReasonRateLimited, "Bland asked to slow down (HTTP 429); waiting for its Retry-After"
	case s.err != nil:
		return progressing, v1alpha1.ReasonAPIError, s.err.Error()
	case pb.Spec.Suspend:
		if s.plan.Empty() {
			return suspendedInSync, v1alpha1.ReasonSuspended, "suspended; the persona matches the spec"
		}
		return suspendedPending, v1alpha1.ReasonSuspended, "suspended; would " + describePlan(s.plan)
	case len(s.notOwned) > 0:
		return stalled, v1alpha1.ReasonNumberNotOwned, "numbers not in the Bland account: " + listNumbers(keys(s.notOwned))
	case len(s.conflicts) > 0:
		return stalled, v1alpha1.ReasonNumberConflict, describeConflicts(s.conflicts)
	}
	return ready, v1alpha1.ReasonSynced, fmt.Sprintf("%d numbers attached to persona %s", len(pb.Spec.InboundNumbers), pb.Spec.PersonaID)
}

// setConditions keeps Ready always present, and Reconciling and Stalled only
// while true. lastTransitionTime moves only when a condition's status does.
func setConditions(pb *v1alpha1.PersonaBinding, state readiness, reason, msg string) {
	conds := &pb.Status.Conditions
	gen := pb.Generation
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

// numberStatuses lists every desired or bound number with its state.
func numberStatuses(pb *v1alpha1.PersonaBinding, s *syncState, desired map[string]bool) []v1alpha1.NumberStatus {
	all := toSet(pb.Spec.InboundNumbers)
	for n := range s.bound {
		all[n] = true
	}
	out := make([]v1alpha1.NumberStatus, 0, len(all))
	for _, n := range keys(all) {
		ns := v1alpha1.NumberStatus{Number: n}
		_, attached := s.obs.numbers[n]
		switch {
		case !desired[n]:
			ns.State, ns.Message = v1alpha1.NumberPending, "dropped from the spec; waiting to be detached"
		case s.conflicts[n] != "":
			ns.State, ns.Message = v1alpha1.NumberConflict, "held by older PersonaBinding "+s.conflicts[n]
		case s.notOwned[n]:
			ns.State, ns.Message = v1alpha1.NumberNotOwned, "not in the Bland account of the API key"
		case attached:
			ns.State = v1alpha1.NumberAttached
			if s.applied[n] != nil {
				ns.AppliedSettings = fromBland(s.applied[n])
			}
		case pb.Spec.Suspend:
			ns.State, ns.Message = v1alpha1.NumberPending, "suspended; not attached"
		case s.err != nil:
			ns.State, ns.Message = v1alpha1.NumberError, "not attached: the last sync failed (see the Ready condition)"
		default:
			ns.State, ns.Message = v1alpha1.NumberPending, "not attached yet"
		}
		out = append(out, ns)
	}
	if len(out) == 0 {
		return nil
	}
	return out
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

// listNumbers keeps messages short: at most ten numbers, then a count.
func listNumbers(nums []string) string {
	if len(nums) <= 10 {
		return strings.Join(nums, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(nums[:10], ", "), len(nums)-10)
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

func statusEqual(a, b v1alpha1.PersonaBindingStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
