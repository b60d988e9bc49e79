package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// pass is one reconcile of a persona: the snapshot of its bindings, what the
// reconcile learns (keys, the persona, the answers to its calls), and what
// it decides. The snapshots never change; patches go to copies.
type pass struct {
	r        *PersonaReconciler
	id       string
	now      time.Time
	bindings []persona.Binding
	rivals   []persona.PB
	// keys holds each binding's API key, by namespace/name. Never logged.
	keys   map[string]string
	owners persona.Owners
	plan   persona.Plan
	// written holds the server's latest copy of each binding we patched.
	written map[string]*v1alpha1.PersonaBinding
	// wroteIntent names the bindings whose intent this pass wrote.
	wroteIntent map[string]bool
	// compiled is, by AgentBinding, the agent version an attach of this
	// pass compiled for its numbers.
	compiled map[string]string
	// heard is what Bland told this pass: the observation, and what its
	// failed and unanswered calls mean for the queue and the intents.
	heard persona.Heard
	// letGo says, by binding, why a deleted binding lets go without its
	// detach (a namespace teardown with no working key, or offboarding).
	letGo map[string]string

	resyncDue, requested, keysChanged bool
	converged                         bool
}

// snapshot lists the persona's bindings from the cache, reading from the API
// server any binding whose cached copy may lack our last write to it, and
// the bindings of other personas that list one of their numbers.
func (r *PersonaReconciler) snapshot(ctx context.Context, id string) (*pass, error) {
	list, err := r.listTarget(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &pass{r: r, id: id, now: r.now(), keys: map[string]string{}, written: map[string]*v1alpha1.PersonaBinding{}, wroteIntent: map[string]bool{}, compiled: map[string]string{}, letGo: map[string]string{}, converged: true}
	candidates := make([]persona.PB, 0, len(list))
	for _, pb := range list {
		if r.memory.stale(pb) {
			fresh, err := r.readLive(ctx, pb)
			if err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("reading %s: %w", persona.Named(persona.KeyOf(pb)), err)
			}
			r.memory.readLive(fresh)
			pb = fresh
		}
		candidates = append(candidates, pb)
	}
	snap := persona.Assemble(id, candidates, int(r.DefaultDetachLimit))
	for i := range snap.Bindings {
		snap.Bindings[i].SeesOtherNamespaces = r.NameOtherNamespaces
	}
	if len(snap.Bindings) == 0 {
		r.memory.forget(id)
		return p, nil
	}
	if err := snap.AddRivals(snap.Listed(), r.listing(ctx)); err != nil {
		return nil, err
	}
	p.bindings, p.rivals = snap.Bindings, snap.Rivals
	p.resyncDue = r.memory.resyncDue(id, p.interval(), p.now)
	p.keysChanged = r.memory.takeKeysChanged(id)
	p.requested = snap.Requested()
	snap.Recall(p.resyncDue || p.requested) // into p.bindings, which it shares
	p.heard.Obs = persona.FromRecords(p.bindings, p.personaName())
	p.heard.Obs.Unsettled = p.inDoubt()
	return p, nil
}

// addRivals adds to the pass the rivals of numbers (persona.Snapshot's
// AddRivals): after a read, those of every number it showed attached.
func (r *PersonaReconciler) addRivals(ctx context.Context, p *pass, numbers []string) error {
	snap := persona.Snapshot{Bindings: p.bindings, Rivals: p.rivals}
	if err := snap.AddRivals(numbers, r.listing(ctx)); err != nil {
		return err
	}
	p.rivals = snap.Rivals
	return nil
}

// listing returns, from the cache's index, the bindings that list or hold
// a number.
func (r *PersonaReconciler) listing(ctx context.Context) func(string) ([]persona.PB, error) {
	return func(n string) ([]persona.PB, error) { return r.listNumber(ctx, n) }
}

// inDoubt returns the numbers a call without an answer may still change:
// those of every pending intent whose deadline has not passed. It is read
// from the bindings alone, so every process and replica sees the same.
func (p *pass) inDoubt() map[string]bool {
	doubt := map[string]bool{}
	for i := range p.bindings {
		persona.InDoubt(p.bindings[i].Object, p.now, doubt)
	}
	return doubt
}

func (p *pass) decide() {
	p.owners, p.plan = persona.Decide(p.bindings, p.rivals, p.heard.Obs)
}

// quiet reports whether this pass has nothing to do: nothing due, requested
// or under way, no call in the plan, and every status as it is. Most passes
// are quiet, and cost no call and no write.
func (p *pass) quiet() bool {
	if p.resyncDue || p.requested || p.keysChanged || p.plan.Writes() || p.plan.NeedsRead || len(p.plan.Handovers) > 0 {
		return false
	}
	for i := range p.bindings {
		b := &p.bindings[i]
		if !b.Object.DeletionTimestamp.IsZero() || (!trusted(b.Object) && !p.waitsOnlyForOthers(b)) {
			return false
		}
		if b.Failure != nil && keyProblem(b.Failure.Reason) {
			return false // reading a key costs no call, and a person may have fixed it
		}
		if !equality.Semantic.DeepEqual(p.status(b), b.Object.Status) {
			return false
		}
	}
	return true
}

// mustRead reports whether the persona must be read before planning: a
// resync, a person's request, a call whose outcome is unknown, or a record
// that may be out of date (the last pass failed or was cut off). A spec
// change alone is planned from the records.
func (p *pass) mustRead() bool {
	if p.resyncDue || p.requested {
		return true
	}
	for i := range p.bindings {
		b := &p.bindings[i]
		if b.Object.DeletionTimestamp.IsZero() && !b.Blocked() && !trusted(b.Object) && !p.waitsOnlyForOthers(b) {
			return true
		}
	}
	return false
}

// trusted says a binding's record is known to be true: no intent is
// pending, and the last pass ended its work (Reconciling is absent, in
// kstatus terms: the binding is Ready, suspended or stalled), so the record
// is what that pass confirmed.
func trusted(pb *v1alpha1.PersonaBinding) bool {
	if _, pending := persona.PendingIntent(pb); pending {
		return false
	}
	return !meta.IsStatusConditionTrue(pb.Status.Conditions, v1alpha1.ConditionReconciling)
}

// status is the binding's status after this pass.
func (p *pass) status(b *persona.Binding) v1alpha1.PersonaBindingStatus {
	return persona.Status(b, p.owners, p.plan, p.heard.Obs, persona.RecordAfter(b, p.plan, p.heard.Obs))
}

// waitsOnlyForOthers says the binding waits for nothing but a sibling able
// to take the numbers it keeps (persona.WaitsOnlyForOthers).
func (p *pass) waitsOnlyForOthers(b *persona.Binding) bool {
	return persona.WaitsOnlyForOthers(b, p.owners, p.plan, p.heard.Obs, persona.RecordAfter(b, p.plan, p.heard.Obs))
}

// interval is the shortest resync interval of the persona's bindings.
func (p *pass) interval() time.Duration {
	d := time.Duration(0)
	for i := range p.bindings {
		if r := resyncInterval(p.bindings[i].Object); d == 0 || r < d {
			d = r
		}
	}
	return d
}

func (p *pass) personaName() string {
	for i := range p.bindings {
		if n := p.bindings[i].Object.Status.PersonaName; n != "" && n != p.id {
			return n
		}
	}
	return ""
}

// agent reports whether the pass is over an agent's numbers.
func (p *pass) agent() bool {
	_, _, ok := persona.ParseAgentTarget(p.id)
	return ok
}

func (p *pass) binding(key string) *persona.Binding {
	for i := range p.bindings {
		if p.bindings[i].Key() == key {
			return &p.bindings[i]
		}
	}
	return nil
}

// grace is how long an unanswered call may still land.
func (r *PersonaReconciler) grace() time.Duration {
	if r.CallGrace > 0 {
		return r.CallGrace
	}
	return 30 * time.Second
}

// keyProblem says the binding stalled on its key or its account, which the
// operator looks at again on every pass (Secrets are not watched).
func keyProblem(reason string) bool { return persona.Reason(reason).Rechecked }
