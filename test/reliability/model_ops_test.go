package reliability

import (
	"fmt"
	"maps"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// The user's operations of the model run: one random step, and creates,
// edits and deletes of bindings, each recorded in the model once the API
// server has accepted it.

func (r *modelRun) step(i int) {
	w := r.now()
	w.bindings = slices.Clone(w.bindings)
	live := w.live()
	op := r.rng.IntN(100)
	switch {
	case op < 24 || len(live) == 0:
		r.create(w, len(w.bindings))
	case op < 54:
		r.edit(w, live[r.rng.IntN(len(live))])
	case op < 65:
		r.remove(w, live[r.rng.IntN(len(live))])
	default:
		r.nemesisStep(w)
	}
	r.nemesis.tick(r)
	r.tickLapses()
	// Think time between a user's actions: half come in bursts (none), so
	// that reconciles of bindings sharing a persona overlap; the rest land
	// while calls are in flight or after the operator has settled.
	if r.rng.IntN(2) == 0 {
		time.Sleep(time.Duration(r.rng.IntN(250)) * time.Millisecond)
	}
	_ = i
}

// pick returns n numbers of the account, one of them now and then replaced
// by a number the account does not own.
func (r *modelRun) pick(n int) []string {
	out := slices.Clone(r.pool)
	r.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	out = out[:n]
	if n > 0 && r.rng.IntN(6) == 0 {
		out[0] = r.foreign[r.rng.IntN(len(r.foreign))]
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pickSettings gives some of the numbers a pathway override.
func (r *modelRun) pickSettings(numbers []string) map[string]v1alpha1.PathwaySettings {
	out := map[string]v1alpha1.PathwaySettings{}
	for _, n := range numbers {
		if r.rng.IntN(3) != 0 {
			continue
		}
		s := v1alpha1.PathwaySettings{PathwayID: []string{"pw-a", "pw-b"}[r.rng.IntN(2)]}
		if v := int64(r.rng.IntN(3)); v > 0 {
			s.PathwayVersion = &v
		}
		if r.rng.IntN(2) == 0 {
			s.StartNodeID = "node-1"
		}
		out[n] = s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// create adds a random binding; adjust, if any, changes it before it is written.
func (r *modelRun) create(w world, order int, adjust ...func(*modelBinding)) {
	b := modelBinding{
		name: fmt.Sprintf("b-%03d", order), order: order, generation: 1,
		persona:   r.personas[r.rng.IntN(len(r.personas))],
		numbers:   r.pick(1 + r.rng.IntN(3)),
		exclusive: r.rng.IntN(8) == 0,
		suspend:   r.rng.IntN(10) == 0,
		orphan:    r.rng.IntN(5) == 0,
		limited:   r.rng.IntN(5) == 0,
	}
	b.settings = r.pickSettings(b.numbers)
	for _, f := range adjust {
		f(&b)
	}
	if len(adjust) == 0 {
		r.maybeAgent(&b)
	}
	start := time.Now()
	obj := r.object(b)
	must(r.t, k8s.Create(r.ctx, obj))
	b.generation = obj.GetGeneration()
	w.bindings = append(w.bindings, b)
	r.recordGeneration(b, start)
	r.commit(w, start, "create %s", describe(b))
	r.nemesis.created(b.name, start)
}

func (r *modelRun) recordGeneration(b modelBinding, since time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gens[b.name] == nil {
		r.gens[b.name] = map[int64]genRecord{}
	}
	if _, seen := r.gens[b.name][b.generation]; !seen {
		r.gens[b.name][b.generation] = genRecord{spec: b, since: since}
	}
}

func (r *modelRun) edit(w world, b modelBinding) {
	switch r.rng.IntN(8) {
	case 0:
		b.suspend = !b.suspend
	case 1:
		b.exclusive = !b.exclusive
	case 2:
		b.orphan = !b.orphan
	case 3:
		b.limited = !b.limited
	case 4:
		b.settings = r.pickSettings(b.numbers)
	default:
		b.numbers = r.pick(r.rng.IntN(4))
		b.settings = r.pickSettings(b.numbers)
	}
	if b.agent != "" {
		b.settings = nil // an AgentBinding has no per-number settings
	}
	start := time.Now()
	gen, err := r.writeSpec(b)
	must(r.t, err)
	b.generation = gen
	w.bindings[b.order] = b
	r.recordGeneration(b, start)
	r.commit(w, start, "edit %s (generation %d)", describe(b), b.generation)
}

func (r *modelRun) remove(w world, b modelBinding) {
	start := time.Now()
	must(r.t, k8s.Delete(r.ctx, r.emptyObject(b)))
	r.lettingGo(b, start)
	if b.orphan || b.suspend {
		// Orphan leaves every owned number, dropped ones whose detach had not
		// happened yet included; a suspended binding changes nothing.
		r.mu.Lock()
		listed := slices.Collect(maps.Keys(r.listed[b.name]))
		r.mu.Unlock()
		for _, n := range listed {
			r.truth.exemptFrom(b.persona, n, start, b.name)
		}
	}
	b.deleted = true
	w.bindings[b.order] = b
	r.commit(w, start, "delete %s", b.name)
	r.nemesis.deleted(b.name, b.orphan, time.Now())
}

func (r *modelRun) toObject(b modelBinding) *v1alpha1.PersonaBinding {
	pb := newBinding(r.ns, b.name, b.persona, "bland", b.numbers...)
	if viaAccount(b) {
		pb.Spec.CredentialsRef, pb.Spec.AccountRef = nil, &v1alpha1.AccountRef{Name: r.accountName()}
	}
	if pb.Spec.InboundNumbers == nil {
		pb.Spec.InboundNumbers = []string{}
	}
	pb.Spec.Exclusive, pb.Spec.Suspend = b.exclusive, b.suspend
	if b.limited {
		one := int32(1)
		pb.Spec.DetachLimit = &one
	}
	pb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDetach
	if b.orphan {
		pb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	}
	pb.Spec.ResyncInterval = &metav1.Duration{Duration: modelResync}
	for _, n := range b.numbers {
		if s, ok := b.settings[n]; ok {
			pb.Spec.NumberSettings = append(pb.Spec.NumberSettings, v1alpha1.NumberSettings{Number: n, PathwaySettings: s})
		}
	}
	return pb
}
