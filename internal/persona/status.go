package persona

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// RecordAfter is the binding's record once the calls are made: it lets go
// of what it released, keeps what it claimed, and then only what the
// observation shows attached (a refused or failed attach rolls its claim
// back; a number an unanswered call may still change is kept).
func RecordAfter(b *Binding, p Plan, obs Observation) []string {
	rec := sets.New(Held(b.Object)...)
	rec.Delete(p.Releases[b.Key()]...)
	rec.Insert(p.Claims[b.Key()]...)
	for n := range rec {
		if !obs.Has(n) && !obs.Unsettled[n] {
			rec.Delete(n)
		}
	}
	return sortedOrNil(rec)
}

// Status is the binding's new status: a pure function of its snapshot, the
// owners, the plan, the latest observation and its record after the calls.
// It claims Synced only when the observation shows the snapshot's spec met.
func Status(b *Binding, owners Owners, p Plan, obs Observation, record []string) v1alpha1.PersonaBindingStatus {
	snap := b.Object
	st := *snap.Status.DeepCopy()
	st.ObservedGeneration = snap.Generation
	st.LastHandledReconcileAt = snap.Annotations[v1alpha1.ReconcileRequestedAtAnnotation]
	switch {
	case obs.Name != "" && b.KeyGroup != "" && obs.NamedFor[b.KeyGroup]:
		st.PersonaName = obs.Name // read with this binding's own key
	case st.PersonaName == "":
		st.PersonaName = snap.Spec.PersonaID // until Bland tells us its name
	}
	st.BoundNumbers = record
	st.PendingDetach = p.PendingDetach[b.Key()]
	st.Numbers = numberStatuses(b, owners, p, obs, record)

	attached := 0
	for _, n := range snap.Spec.InboundNumbers {
		if obs.Has(n) && owners.Conflicts[b.Key()][n] == "" && !obs.Unsettled[n] {
			attached++
		}
	}
	st.Summary = fmt.Sprintf("%d/%d", attached, len(snap.Spec.InboundNumbers))
	state, reason, msg := assess(b, owners, p, obs, record, attached)
	SetConditions(&st, snap.Generation, state, reason, msg)
	return st
}

// alsoSeparator joins the causes a Ready message lists after the first.
const alsoSeparator = "; also "

// FirstCause is the first cause a Ready message tells, without the ones
// listed after it: what a failure carried to a later pass said. The others
// (a conflict, a refusal) are decided again in each pass, and carried with
// the failure they would outlive their cause.
func FirstCause(message string) string {
	first, _, _ := strings.Cut(message, alsoSeparator)
	return first
}

// cause is one thing that keeps a binding from Synced.
type cause struct {
	state          Readiness
	reason, detail string
}

// assess picks the Ready reason and message. Every blocking cause is told,
// the most actionable first (its reason is the Ready reason): the key or
// the last call, a detach limit, numbers not in the account, numbers Bland
// refused, numbers an older binding holds. One cause never hides another.
func assess(b *Binding, owners Owners, p Plan, obs Observation, record []string, attached int) (Readiness, string, string) {
	snap, key := b.Object, b.Key()
	if !b.live() {
		return deletionState(b, p, record)
	}
	var causes []cause
	if f := b.Failure; f != nil {
		causes = append(causes, cause{f.State, f.Reason, f.Message})
	}
	if snap.Spec.Suspend && b.Failure == nil {
		w := wouldDo(b, owners, obs, record)
		if !w.Writes() {
			return SuspendedInSync, v1alpha1.ReasonSuspended, "suspended; the persona matches the spec"
		}
		return SuspendedPending, v1alpha1.ReasonSuspended, "suspended; would " + Describe(w)
	}
	notOwned, rejected := refusals(b)
	if len(p.PendingDetach[key]) > 0 {
		causes = append(causes, cause{Stalled, v1alpha1.ReasonDetachLimitExceeded, detachLimitMessage(snap, p.Limits[key], p.PendingDetach[key])})
	}
	if len(notOwned) > 0 {
		causes = append(causes, cause{Stalled, v1alpha1.ReasonNumberNotOwned, "numbers not in the Bland account: " + describeRefusals(b, notOwned)})
	}
	if len(rejected) > 0 {
		causes = append(causes, cause{Stalled, v1alpha1.ReasonRequestRejected, "Bland refused to attach " + describeRefusals(b, rejected)})
	}
	if len(owners.Conflicts[key]) > 0 {
		causes = append(causes, cause{Stalled, v1alpha1.ReasonNumberConflict, describeConflicts(b, owners.Conflicts[key])})
	}
	if len(causes) > 0 {
		first, msg := causes[0], causes[0].detail
		for _, c := range causes[1:] {
			msg += alsoSeparator + c.reason + ": " + c.detail
		}
		return first.state, first.reason, msg
	}
	if unmet := Unmet(b, owners, p, obs, record); unmet != "" {
		return Progressing, v1alpha1.ReasonProgressing, unmet
	}
	return Ready, v1alpha1.ReasonSynced, fmt.Sprintf("%d/%d numbers attached to %s", attached, len(snap.Spec.InboundNumbers), TargetName(snap.Spec.PersonaID))
}

// deletionState says why a deleted binding still waits, if it does.
func deletionState(b *Binding, p Plan, record []string) (Readiness, string, string) {
	if kept := p.Kept[b.Key()]; len(kept) == len(record) && len(kept) > 0 {
		return Progressing, v1alpha1.ReasonDeleting, "deleting: " + describeKept(b, kept)
	}
	state, reason, why := Progressing, v1alpha1.ReasonDeleting, "detaching"
	if f := b.Failure; f != nil {
		why = f.Message
		if f.State == Stalled {
			state, reason = Stalled, f.Reason
		}
	}
	return state, reason, fmt.Sprintf("deleting: cannot detach %s yet: %s; set deletionPolicy: Orphan to delete without detaching", List(record), why)
}

// Unmet says what the observation still lacks for the snapshot's spec, or ""
// when it is met: every desired number this binding may hold is attached with
// its settings, no number it dropped is still attached, and, exclusive,
// nothing it sweeps is left.
func Unmet(b *Binding, owners Owners, p Plan, obs Observation, record []string) string {
	return unmet(b, owners, p, obs, record, true)
}

// WaitsOnlyForOthers says all a live binding still lacks is a sibling able
// to take the numbers it keeps for it (a binding stalled on its key): no
// read or call of this persona can change that, so its persona waits for
// that sibling to change, with no reads in between.
func WaitsOnlyForOthers(b *Binding, owners Owners, p Plan, obs Observation, record []string) bool {
	return b.live() && len(p.Kept[b.Key()]) > 0 && unmet(b, owners, p, obs, record, false) == ""
}

func unmet(b *Binding, owners Owners, p Plan, obs Observation, record []string, withKept bool) string {
	snap, key := b.Object, b.Key()
	want, applied := WantedSettings(&snap.Spec), appliedBy(b, p)
	var missing, settings, dropped, stray, waiting []string
	for _, n := range snap.Spec.InboundNumbers {
		if owners.Conflicts[key][n] != "" || refused(b, n) {
			continue
		}
		current, ok := obs.Numbers[n]
		switch {
		case obs.Unsettled[n]:
			waiting = append(waiting, n)
		case !ok:
			missing = append(missing, n)
		case !isEmpty(want[n]) && !equal(want[n], current):
			settings = append(settings, n)
		case isEmpty(want[n]) && !isEmpty(applied[n]) && !isEmpty(current):
			settings = append(settings, n)
		}
	}
	for _, n := range record {
		if !slices.Contains(snap.Spec.InboundNumbers, n) && p.Kept[key][n] == "" {
			dropped = append(dropped, n)
		}
	}
	for _, n := range p.Sweeps[key] {
		if obs.Has(n) {
			stray = append(stray, n)
		}
	}
	var parts []string
	add := func(label string, nums []string) {
		if len(nums) > 0 {
			slices.Sort(nums)
			parts = append(parts, label+List(nums))
		}
	}
	add("not attached yet: ", missing)
	add("settings not applied yet: ", settings)
	add("dropped but still attached: ", dropped)
	add("unlisted numbers still attached: ", stray)
	add("waiting for the outcome of a call Bland never answered: ", waiting)
	if kept := p.Kept[key]; len(kept) > 0 && withKept {
		parts = append(parts, describeKept(b, kept))
	}
	return strings.Join(parts, "; ")
}

// SetConditions keeps Ready always present, and Reconciling and Stalled only
// while true. lastTransitionTime moves only when a condition's status does.
func SetConditions(st *v1alpha1.PersonaBindingStatus, gen int64, state Readiness, reason, msg string) {
	conds := &st.Conditions
	readyStatus := metav1.ConditionFalse
	if state == Ready || state == SuspendedInSync {
		readyStatus = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReady, Status: readyStatus, Reason: reason, Message: msg, ObservedGeneration: gen})
	if state == Progressing {
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen})
	} else {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
	}
	if state == Stalled {
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen})
	} else {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	}
}

// numberStatuses lists every desired or owned number with its state.
func numberStatuses(b *Binding, owners Owners, p Plan, obs Observation, record []string) []v1alpha1.NumberStatus {
	snap, key := b.Object, b.Key()
	desired := sets.New(snap.Spec.InboundNumbers...)
	all := desired.Union(sets.New(record...))
	want, applied := WantedSettings(&snap.Spec), appliedBy(b, p)
	out := make([]v1alpha1.NumberStatus, 0, all.Len())
	for _, n := range sets.List(all) {
		ns := v1alpha1.NumberStatus{Number: n}
		current, attached := obs.Numbers[n]
		r, isRefused := b.Refused[n]
		switch {
		case p.Kept[key][n] != "":
			ns.State, ns.Message = v1alpha1.NumberPending, "kept attached for "+Named(p.Kept[key][n])+", which lists it and cannot take it yet"
		case !desired.Has(n) && slices.Contains(p.PendingDetach[key], n):
			ns.State, ns.Message = v1alpha1.NumberPending, "dropped from the spec; the detach waits for approval (detach limit)"
		case !desired.Has(n):
			ns.State, ns.Message = v1alpha1.NumberPending, "dropped from the spec; waiting to be detached"
		case owners.Conflicts[key][n] != "":
			ns.State, ns.Message = v1alpha1.NumberConflict, heldByOlder+Named(owners.Conflicts[key][n])
		case isRefused && r.NotOwned:
			ns.State, ns.Message = v1alpha1.NumberNotOwned, r.Message
		case isRefused:
			ns.State, ns.Message = v1alpha1.NumberRejected, r.Message
		case obs.Unsettled[n]:
			ns.State, ns.Message = v1alpha1.NumberPending, "waiting for the outcome of a call Bland never answered"
		case attached:
			ns.State = v1alpha1.NumberAttached
			switch {
			case !isEmpty(want[n]) && equal(want[n], current):
				ns.AppliedSettings = want[n]
			case !isEmpty(applied[n]) && equal(applied[n], current):
				ns.AppliedSettings = applied[n] // set by the operator, to be cleared
			}
		case snap.Spec.Suspend:
			ns.State, ns.Message = v1alpha1.NumberPending, "suspended; not attached"
		case b.Failure != nil:
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

// appliedBy returns the overrides the operator set on the binding's numbers,
// those of numbers handed over to it included.
func appliedBy(b *Binding, p Plan) map[string]*Settings {
	applied := AppliedSettings(&b.Object.Status)
	for _, h := range p.Handovers {
		if h.To == b.Key() && h.Applied != nil {
			applied[h.Number] = h.Applied
		}
	}
	return applied
}

func refusals(b *Binding) (notOwned, rejected []string) {
	for n, r := range b.Refused {
		if !slices.Contains(b.Object.Spec.InboundNumbers, n) {
			continue
		}
		if r.NotOwned {
			notOwned = append(notOwned, n)
		} else {
			rejected = append(rejected, n)
		}
	}
	slices.Sort(notOwned)
	slices.Sort(rejected)
	return notOwned, rejected
}

func describeRefusals(b *Binding, nums []string) string {
	msg := List(nums)
	if r := b.Refused[nums[0]]; r.Message != "" {
		msg += " (" + r.Message + ")"
	}
	return msg
}

// Describe says what a plan does, for messages.
func Describe(p Plan) string {
	var parts []string
	nums := func(ms []Move) []string {
		out := make([]string, 0, len(ms))
		for _, m := range ms {
			out = append(out, m.Number)
		}
		return out
	}
	if len(p.Attach) > 0 {
		parts = append(parts, "attach "+List(nums(p.Attach)))
	}
	if len(p.Detach) > 0 {
		parts = append(parts, "detach "+List(nums(p.Detach)))
	}
	if len(p.Settings) > 0 {
		var s []string
		for _, c := range p.Settings {
			s = append(s, c.Number)
		}
		parts = append(parts, "update the settings of "+List(s))
	}
	return strings.Join(parts, "; ")
}

// describeConflicts names the numbers older bindings hold, by holder (as b
// may name it).
func describeConflicts(b *Binding, c map[string]string) string {
	return byBinding(b.described(c), func(nums, holder string) string {
		if unnamed, ok := strings.CutPrefix(holder, "a "); ok {
			return fmt.Sprintf("%s held by an older %s", nums, unnamed)
		}
		return fmt.Sprintf("%s held by older %s", nums, holder)
	})
}

// describeKept names the numbers b keeps for the bindings that claim them
// and cannot take them yet (as b may name them).
func describeKept(b *Binding, kept map[string]string) string {
	return byBinding(b.described(kept), func(nums, claimant string) string {
		return fmt.Sprintf("keeping %s attached until %s, which lists it, can take it", nums, claimant)
	})
}

// byBinding groups numbers by the binding each maps to and says each group
// with say, bindings in order, numbers sorted.
func byBinding(numberTo map[string]string, say func(nums, binding string) string) string {
	grouped := map[string][]string{}
	for n, b := range numberTo {
		grouped[b] = append(grouped[b], n)
	}
	var parts []string
	for _, b := range slices.Sorted(mapsKeys(grouped)) {
		nums := grouped[b]
		slices.Sort(nums)
		parts = append(parts, say(List(nums), b))
	}
	return strings.Join(parts, "; ")
}

// detachLimitMessage says how many wait, the limit, how to approve them,
// and, when an approval is there, that it was given for another set.
func detachLimitMessage(snap *v1alpha1.PersonaBinding, limit int, pending []string) string {
	msg := fmt.Sprintf("%d numbers would be detached (%s), over the detach limit of %d", len(pending), List(pending), limit)
	if given := snap.Annotations[v1alpha1.ApproveDetachAnnotation]; given != "" {
		msg += fmt.Sprintf("; the approval %q is for another generation or another set of numbers", given)
	}
	return msg + fmt.Sprintf("; to approve exactly these, run: kubectl annotate pb -n %s %s %s=%s --overwrite",
		snap.Namespace, snap.Name, v1alpha1.ApproveDetachAnnotation, ApprovalFor(snap.Generation, pending))
}

// List keeps messages short: at most ten numbers, then a count.
func List(nums []string) string {
	if len(nums) <= 10 {
		return strings.Join(nums, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(nums[:10], ", "), len(nums)-10)
}

func sortedOrNil(s sets.Set[string]) []string {
	if s.Len() == 0 {
		return nil
	}
	return sets.List(s)
}
