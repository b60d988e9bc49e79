package persona

import (
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Requested says a person asked for a pass: a binding's reconcile
// annotation differs from the one its status last handled.
func (s Snapshot) Requested() bool {
	for i := range s.Bindings {
		pb := s.Bindings[i].Object
		if pb.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] != pb.Status.LastHandledReconcileAt {
			return true
		}
	}
	return false
}

// Recall puts into each binding what its status carries from earlier
// passes: the numbers Bland refused at its generation, and a stall only a
// person or its retry time can clear (Reason's Carried), so that a pass
// with nothing new costs no call. A pass that looks again (a resync is due,
// or a person asked) recalls nothing, nor does a binding whose spec changed
// since its status: their refusals and stalls are tried afresh. The
// controller and kubectl bland plan both call it.
func (s *Snapshot) Recall(lookAgain bool) {
	for i := range s.Bindings {
		b := &s.Bindings[i]
		if lookAgain || b.Object.Status.ObservedGeneration != b.Object.Generation {
			continue
		}
		b.Refused = RefusedInStatus(b.Object)
		b.Failure = carriedFailure(b.Object)
	}
}

// carriedFailure is the Carried stall a live binding's status reports at
// its generation, if any.
func carriedFailure(pb *v1alpha1.PersonaBinding) *Failure {
	c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || !pb.DeletionTimestamp.IsZero() || c.ObservedGeneration != pb.Generation || !Reason(c.Reason).Carried {
		return nil
	}
	return Fail(c.Reason, FirstCause(c.Message))
}

// LastRefusals are the numbers the binding's status last reported refused
// by Bland, at whatever generation: what Bland will most likely say again.
func LastRefusals(pb *v1alpha1.PersonaBinding) map[string]Refusal {
	out := map[string]Refusal{}
	for _, n := range pb.Status.Numbers {
		if n.State == v1alpha1.NumberNotOwned || n.State == v1alpha1.NumberRejected {
			out[n.Number] = Refusal{Message: n.Message, NotOwned: n.State == v1alpha1.NumberNotOwned}
		}
	}
	return out
}

// RefusedBefore are the numbers any of the bindings' statuses last reported
// refused by Bland: a refusal is about the number (outside the account,
// blacklisted), whichever binding tried it.
func RefusedBefore(bindings []Binding) map[string]Refusal {
	out := map[string]Refusal{}
	for i := range bindings {
		for n, why := range LastRefusals(bindings[i].Object) {
			out[n] = why
		}
	}
	return out
}

// SplitRetries parts attach moves into those of numbers Bland has not
// refused before and those it has (RefusedBefore): a number refused before
// is tried again (after a spec change, a resync, or when a person asks) in
// a call of its own, after the others, so that a second refusal never holds
// back the numbers Bland accepts.
func SplitRetries(moves []Move, bindings []Binding) (fresh, retried []Move) {
	before := RefusedBefore(bindings)
	for _, m := range moves {
		if _, ok := before[m.Number]; ok {
			retried = append(retried, m)
		} else {
			fresh = append(fresh, m)
		}
	}
	return fresh, retried
}
