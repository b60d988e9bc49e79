package persona

import (
	"time"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Outcome is what a pass ends with for one binding: a pure function of its
// snapshot, what the pass decided and what Bland answered. The shell only
// writes it.
type Outcome struct {
	// Release: the binding is deleted and holds nothing; its finalizer goes.
	Release bool
	// Record is the binding's record after the calls.
	Record []string
	// Status is its new status; it settles the pending intent when the pass
	// did (Settles).
	Status v1alpha1.PersonaBindingStatus
	// Intent, when set, must be written now: a call of this pass got no
	// answer, and no intent names its numbers far enough ahead.
	Intent *Intent
	// Waiting: the binding waits for more work of its persona's passes
	// (Progressing, and not only for a sibling): the queue backs off.
	Waiting bool
}

// Answers is what the pass's calls told it about one binding, beyond the
// observation.
type Answers struct {
	// Wrote: this pass wrote the binding's intent before its calls.
	Wrote bool
	// Lost are the numbers of its attaches and detaches that got no answer,
	// which may land until LandBy.
	Lost   []string
	LandBy time.Time
}

// Finish is the binding's outcome. latest is the server's latest copy of
// the binding (the snapshot, or what this pass last wrote to it).
func Finish(b *Binding, latest PB, owners Owners, p Plan, obs Observation, a Answers) Outcome {
	record := RecordAfter(b, p, obs)
	if !b.live() && len(record) == 0 {
		return Outcome{Release: true}
	}
	st := Status(b, owners, p, obs, record)
	if in, pending := PendingIntent(latest); pending && Settles(latest, obs.Unsettled, obs.Fresh, a.Wrote) {
		st.ObservedIntent = in.Seq
	}
	o := Outcome{Record: record, Status: st}
	if len(a.Lost) > 0 {
		view := latest.DeepCopy()
		view.Status.ObservedIntent = st.ObservedIntent
		if in, write := NextIntent(view, a.Lost, obs.Unsettled, a.LandBy, a.LandBy); write {
			o.Intent = &in
		}
	}
	o.Waiting = b.live() && readiness(st) == v1alpha1.ReasonProgressing && !WaitsOnlyForOthers(b, owners, p, obs, record)
	return o
}

// readiness is the status's Ready reason.
func readiness(st v1alpha1.PersonaBindingStatus) string {
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}
