package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// TestModel runs random operations against the manager process — creates,
// edits and deletes of bindings that share personas and numbers, numbers moved
// behind the operator's back, kill -9 and restart, latency and faults — while
// a model of the specification says what must hold. It checks, from the
// simulator's history, that no number was detached from a persona while a
// binding there held it, and at quiescence that every persona, status and
// finalizer is what the model expects.
//
// MODEL_SEED picks the run (default: a new one, printed), MODEL_STEPS its
// length, MODEL_DURATION keeps running new seeds for that long. On failure it
// prints the seed and the operation log: MODEL_SEED=n reproduces the workload.
func TestModel(t *testing.T) {
	steps := envInt("MODEL_STEPS", 60)
	seed := uint64(envInt("MODEL_SEED", int(time.Now().UnixNano()%1_000_000)))
	duration := time.Duration(size(90, 0)) * time.Second
	if d, err := time.ParseDuration(os.Getenv("MODEL_DURATION")); err == nil {
		duration = d
	}
	start := time.Now()
	runs, totalSteps := 0, 0
	for {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, seed, steps) })
		runs++
		totalSteps += steps
		if t.Failed() || time.Since(start) >= duration {
			break
		}
		seed++
	}
	report(t, "%d runs, %d random steps in %s", runs, totalSteps, time.Since(start).Round(time.Second))
}

func readyMessage(pb *v1alpha1.PersonaBinding) string {
	for _, c := range pb.Status.Conditions {
		if c.Type == "Ready" {
			return c.Message
		}
	}
	return ""
}

// modelRuns counts the runs of this process, to give each its own numbers.
var modelRuns atomic.Int64

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return fallback
}

// modelBinding is the model's view of one binding.
type modelBinding struct {
	name      string
	order     int // creation order: names sort in it, so it matches the operator's (creation time, name)
	persona   string
	numbers   []string
	exclusive bool
	suspend   bool
	orphan    bool
	limited   bool // detachLimit 1: larger detaches wait for approval
	deleted   bool
}

// world is the model at one moment.
type world struct {
	at       time.Time
	bindings []modelBinding
}

func (w world) live() []modelBinding {
	return slices.DeleteFunc(slices.Clone(w.bindings), func(b modelBinding) bool { return b.deleted })
}

// lostPersona: an older binding shares the persona and one of the two is exclusive.
func (w world) lostPersona(b modelBinding) bool {
	for _, o := range w.live() {
		if o.persona == b.persona && o.order < b.order && (o.exclusive || b.exclusive) {
			return true
		}
	}
	return false
}

// holder returns the binding that holds n: the oldest live binding listing
// it, when that one is active (not suspended, not shut out of its persona).
func (w world) holder(n string) (modelBinding, bool) {
	var oldest *modelBinding
	live := w.live()
	for i := range live {
		if slices.Contains(live[i].numbers, n) && (oldest == nil || live[i].order < oldest.order) {
			oldest = &live[i]
		}
	}
	if oldest == nil || oldest.suspend || w.lostPersona(*oldest) {
		return modelBinding{}, false
	}
	return *oldest, true
}

// conflicted says the binding should report NumberConflict. A binding that
// lists no number conflicts with nobody.
func (w world) conflicted(b modelBinding) bool {
	if len(b.numbers) == 0 {
		return false
	}
	if w.lostPersona(b) {
		return true
	}
	for _, o := range w.live() {
		if o.order < b.order {
			for _, n := range b.numbers {
				if slices.Contains(o.numbers, n) {
					return true
				}
			}
		}
	}
	return false
}

func (w world) listedAnywhere(n string) bool {
	for _, b := range w.live() {
		if slices.Contains(b.numbers, n) {
			return true
		}
	}
	return false
}

type modelRun struct {
	t        *testing.T
	ctx      context.Context
	rng      *rand.Rand
	ns       string
	account  string
	key      string
	personas []string
	pool     []string
	history  []world
	log      []string
	mgr      *manager
	// leftover marks (persona, number) pairs that may stay attached with no
	// binding holding them: put there out of band, or orphaned by a deletion.
	leftover map[[2]string]bool
	kills    []time.Time
	// listed is every number each binding has ever listed: a binding that is
	// suspended keeps, attached, what it owned when it was suspended.
	listed map[string]map[string]bool
}

func runModel(t *testing.T, seed uint64, steps int) {
	run := newModelRun(t, seed)
	defer func() {
		if t.Failed() {
			t.Logf("MODEL_SEED=%d MODEL_STEPS=%d; operations:\n%s", seed, steps, strings.Join(run.log, "\n"))
		}
	}()
	run.mgr = run.start()
	for i := range steps {
		run.step(i)
	}
	run.quiesce()
	run.checkHistory()
}

func newModelRun(t *testing.T, seed uint64) *modelRun {
	ctx := context.Background()
	r := &modelRun{
		t: t, ctx: ctx, rng: rand.New(rand.NewPCG(seed, 0x5eed)),
		ns:       fmt.Sprintf("model-%d-%d", seed, time.Now().UnixNano()%1_000_000),
		leftover: map[[2]string]bool{},
		listed:   map[string]map[string]bool{},
	}
	r.account, r.key = r.ns, "sk-"+r.ns
	// Each run's numbers are its own: bindings of earlier runs stay in the
	// cluster, and one listing the same number would be older and win it.
	run := modelRuns.Add(1)
	for i := range 8 {
		r.pool = append(r.pool, fmt.Sprintf("+1%03d7%06d", 100+run/1000%900, run%1000*10+int64(i)))
	}
	sim.AddAccount(r.account, r.key, r.pool...)
	for i := range 2 {
		p := fmt.Sprintf("%s-p%d", r.ns, i)
		r.personas = append(r.personas, p)
		sim.AddPersona(r.key, p, p)
		sim.SetPersonaLatency(p, time.Duration(r.rng.IntN(120))*time.Millisecond)
	}
	t.Cleanup(func() {
		for _, p := range r.personas {
			sim.SetPersonaLatency(p, 0)
		}
	})
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}))
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: r.ns}, StringData: map[string]string{"apiKey": r.key}}))
	r.history = []world{{at: time.Now()}}
	return r
}

// start runs a manager whose token bucket does not space calls out, so that
// calls of concurrent reconciles can meet at the simulator.
func (r *modelRun) start() *manager {
	return startManager(r.t, append(leaderElection(r.ns), "--api-qps", "100", "--api-burst", "100")...)
}

func (r *modelRun) now() world { return r.history[len(r.history)-1] }

// commit records the model after an operation the API server has accepted.
func (r *modelRun) commit(w world, format string, args ...any) {
	for _, b := range w.bindings {
		if r.listed[b.name] == nil {
			r.listed[b.name] = map[string]bool{}
		}
		for _, n := range b.numbers {
			r.listed[b.name][n] = true
		}
	}
	w.at = time.Now()
	r.history = append(r.history, w)
	r.log = append(r.log, fmt.Sprintf("%s %s", w.at.Format("15:04:05.000"), fmt.Sprintf(format, args...)))
}

func (r *modelRun) pick(n int) []string {
	out := slices.Clone(r.pool)
	r.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	out = out[:n]
	slices.Sort(out)
	return out
}

func (r *modelRun) step(i int) {
	w := r.now()
	w.bindings = slices.Clone(w.bindings)
	live := w.live()
	switch op := r.rng.IntN(100); {
	case op < 25 || len(live) == 0:
		r.create(w, len(w.bindings))
	case op < 55:
		r.edit(w, live[r.rng.IntN(len(live))])
	case op < 68:
		r.remove(w, live[r.rng.IntN(len(live))])
	case op < 76:
		p, n := r.personas[r.rng.IntN(len(r.personas))], r.pool[r.rng.IntN(len(r.pool))]
		sim.AttachOutOfBand(p, n)
		r.leftover[[2]string{p, n}] = true
		r.commit(w, "out of band: attach %s to %s", n, p)
	case op < 82:
		p := r.personas[r.rng.IntN(len(r.personas))]
		if attached := sim.Attached(p); len(attached) > 0 {
			n := attached[r.rng.IntN(len(attached))]
			sim.DetachOutOfBand(p, n)
			r.commit(w, "out of band: detach %s from %s", n, p)
		}
	case op < 88:
		sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 503, Account: r.account}, 1+r.rng.IntN(2))
		r.commit(w, "fault: next calls answer 503")
	case op < 91:
		sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: "1", Account: r.account}, 1)
		r.commit(w, "fault: next call answers 429, Retry-After 1")
	default:
		r.mgr.kill()
		r.kills = append(r.kills, time.Now())
		r.mgr = r.start()
		r.commit(w, "kill -9 and restart the manager")
	}
	// Think time between a user's actions: half come in bursts (none), so
	// that reconciles of bindings sharing a persona overlap; the rest land
	// while calls are in flight or after the operator has settled.
	if r.rng.IntN(2) == 0 {
		time.Sleep(time.Duration(r.rng.IntN(250)) * time.Millisecond)
	}
	_ = i
}

func (r *modelRun) create(w world, order int) {
	b := modelBinding{
		name: fmt.Sprintf("b-%03d", order), order: order,
		persona:   r.personas[r.rng.IntN(len(r.personas))],
		numbers:   r.pick(1 + r.rng.IntN(3)),
		exclusive: r.rng.IntN(8) == 0,
		suspend:   r.rng.IntN(10) == 0,
		orphan:    r.rng.IntN(5) == 0,
		limited:   r.rng.IntN(5) == 0,
	}
	must(r.t, k8s.Create(r.ctx, r.toObject(b)))
	w.bindings = append(w.bindings, b)
	r.commit(w, "create %s", describe(b))
}

func (r *modelRun) edit(w world, b modelBinding) {
	switch r.rng.IntN(7) {
	case 0:
		b.suspend = !b.suspend
	case 1:
		b.exclusive = !b.exclusive
	case 2:
		b.orphan = !b.orphan
	case 3:
		b.limited = !b.limited
	default:
		b.numbers = r.pick(r.rng.IntN(4))
	}
	must(r.t, update(r.ctx, client.ObjectKey{Namespace: r.ns, Name: b.name}, func(pb *v1alpha1.PersonaBinding) {
		pb.Spec = r.toObject(b).Spec
	}))
	w.bindings[b.order] = b
	r.commit(w, "edit %s", describe(b))
}

func (r *modelRun) remove(w world, b modelBinding) {
	must(r.t, k8s.Delete(r.ctx, &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: b.name}}))
	if b.orphan {
		// Orphan leaves every owned number: those listed, and any dropped
		// whose detach had not happened yet.
		for n := range r.listed[b.name] {
			r.leftover[[2]string{b.persona, n}] = true
		}
	}
	// A suspended binding's numbers may have stayed attached, not owned.
	b.deleted = true
	w.bindings[b.order] = b
	r.commit(w, "delete %s", b.name)
}

func (r *modelRun) toObject(b modelBinding) *v1alpha1.PersonaBinding {
	pb := newBinding(r.ns, b.name, b.persona, "bland", b.numbers...)
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
	return pb
}

func describe(b modelBinding) string {
	return fmt.Sprintf("%s persona=%s numbers=%v exclusive=%t suspend=%t orphan=%t limited=%t", b.name, b.persona, b.numbers, b.exclusive, b.suspend, b.orphan, b.limited)
}

// quiesce stops the faults, asks every binding for a fresh look (drift is
// only seen at a resync), approves any detach waiting on a detach limit, and
// waits until the model's expectations hold.
func (r *modelRun) quiesce() {
	sim.ClearFaults()
	for _, p := range r.personas {
		sim.SetPersonaLatency(p, 0)
	}
	stamp := fmt.Sprint(time.Now().UnixNano())
	for _, b := range r.now().live() {
		var pb v1alpha1.PersonaBinding
		must(r.t, k8s.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: b.name}, &pb))
		// A merge patch of annotations keeps the generation the approval names.
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:"%d"}}}`,
			v1alpha1.ReconcileRequestedAtAnnotation, stamp, v1alpha1.ApproveDetachAnnotation, pb.Generation)
		must(r.t, k8s.Patch(r.ctx, &pb, client.RawPatch(types.MergePatchType, []byte(patch))))
	}
	deadline := time.Now().Add(90 * time.Second)
	var problems []string
	for time.Now().Before(deadline) {
		if problems = r.violations(stamp); len(problems) == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(problems) > 0 {
		r.t.Errorf("at quiescence (90s after the last operation):\n  %s", strings.Join(problems, "\n  "))
		return
	}
	// No hot loop: once settled, nothing writes to Bland over a short window,
	// and reads stay below one per binding (a last wake-up may still read).
	ours := func(c blandsim.Call) bool { return c.Account == r.account }
	mark := len(sim.Calls(ours))
	time.Sleep(3 * time.Second) // the measurement window
	extra := sim.Calls(ours)[mark:]
	writes := slices.ContainsFunc(extra, func(c blandsim.Call) bool { return c.IsWrite() })
	if writes || len(extra) > len(r.now().live()) {
		r.t.Errorf("%d Bland calls in the 3s after the bindings settled: %+v", len(extra), extra)
	}
}

// violations compares the cluster and the simulator with the model.
func (r *modelRun) violations(stamp string) []string {
	w := r.now()
	var out []string
	var list v1alpha1.PersonaBindingList
	must(r.t, k8s.List(r.ctx, &list, client.InNamespace(r.ns)))
	objects := map[string]v1alpha1.PersonaBinding{}
	for _, pb := range list.Items {
		objects[pb.Name] = pb
	}
	attached := map[string][]string{}
	for _, p := range r.personas {
		attached[p] = sim.Attached(p)
	}
	for _, b := range w.bindings {
		pb, exists := objects[b.name]
		if b.deleted {
			if exists {
				out = append(out, fmt.Sprintf("%s was deleted but remains, finalizers %v", b.name, pb.Finalizers))
			}
			continue
		}
		if !exists {
			out = append(out, b.name+" is missing")
			continue
		}
		out = append(out, r.bindingViolations(w, b, pb, attached[b.persona], stamp)...)
	}
	for _, p := range r.personas {
		for _, n := range attached[p] {
			if why := r.unexplained(w, p, n); why != "" {
				out = append(out, why)
			}
		}
	}
	return out
}

func (r *modelRun) bindingViolations(w world, b modelBinding, pb v1alpha1.PersonaBinding, onPersona []string, stamp string) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, b.name+": "+fmt.Sprintf(format, args...)) }
	if pb.Status.ObservedGeneration != pb.Generation || pb.Status.LastHandledReconcileAt != stamp {
		bad("status describes generation %d, not %d (or the requested reconcile is not handled)", pb.Status.ObservedGeneration, pb.Generation)
		return out
	}
	want := v1alpha1.ReasonSynced
	switch {
	case b.suspend:
		want = v1alpha1.ReasonSuspended
	case w.conflicted(b):
		want = v1alpha1.ReasonNumberConflict
	}
	if got := readyReason(&pb); got != want {
		bad("Ready reason %q (%s), model expects %q", got, readyMessage(&pb), want)
	}
	for _, n := range b.numbers {
		if h, ok := w.holder(n); ok && h.name == b.name && !slices.Contains(onPersona, n) {
			bad("holds %s but it is not attached to %s", n, b.persona)
		}
		if h, ok := w.holder(n); ok && h.name == b.name && !slices.Contains(pb.Status.BoundNumbers, n) {
			bad("holds %s but boundNumbers %v does not list it", n, pb.Status.BoundNumbers)
		}
	}
	for _, n := range pb.Status.BoundNumbers {
		if !slices.Contains(onPersona, n) {
			bad("boundNumbers lists %s, which is not attached", n)
		}
	}
	for _, ns := range pb.Status.Numbers {
		if h, ok := w.holder(ns.Number); ok && h.name == b.name && (ns.State == v1alpha1.NumberAttached) != slices.Contains(onPersona, ns.Number) {
			bad("number status %s=%s disagrees with the simulator", ns.Number, ns.State)
		}
	}
	hasFinalizer := slices.Contains(pb.Finalizers, v1alpha1.Finalizer)
	if !b.orphan && len(pb.Status.BoundNumbers) > 0 && !hasFinalizer {
		bad("owns %v with deletionPolicy Detach but has no finalizer", pb.Status.BoundNumbers)
	}
	return out
}

// unexplained says why n should not be attached to p, or "" if it may be.
func (r *modelRun) unexplained(w world, p, n string) string {
	if h, ok := w.holder(n); ok {
		if h.persona != p {
			return fmt.Sprintf("%s is on %s but %s holds it on %s", n, p, h.name, h.persona)
		}
		return ""
	}
	for _, b := range w.live() {
		if b.persona == p && b.exclusive && !b.suspend && !w.lostPersona(b) && !w.listedAnywhere(n) {
			return fmt.Sprintf("%s is on %s, whose exclusive binding %s should have swept it", n, p, b.name)
		}
	}
	for _, b := range w.live() {
		if b.persona == p && slices.Contains(b.numbers, n) {
			return "" // listed there, held by nobody: stays
		}
		if b.persona == p && b.suspend && r.listed[b.name][n] {
			return "" // a suspended binding may still own it: it changes nothing
		}
	}
	if r.leftover[[2]string{p, n}] {
		return ""
	}
	return fmt.Sprintf("%s is on %s, but no binding there lists it and no operation left it there", n, p)
}

// checkHistory also finds two calls to one persona in flight together: the
// operator serializes them, except across a kill (the killed process's call
// may still be running when the new one starts).
func (r *modelRun) checkOverlaps(calls []blandsim.Call) {
	acrossKills := 0
	defer func() { r.t.Logf("%d calls; %d pairs in flight together across a kill", len(calls), acrossKills) }()
	for i := range calls {
		for j := i + 1; j < len(calls); j++ {
			a, b := calls[i], calls[j]
			if a.PersonaID != b.PersonaID || !a.Time.Before(b.Done) || !b.Time.Before(a.Done) {
				continue
			}
			// Calls of two processes: a kill came between their starts.
			first, second := minTime(a.Time, b.Time), maxTime(a.Time, b.Time)
			if slices.ContainsFunc(r.kills, func(k time.Time) bool { return k.After(first) && k.Before(second) }) {
				acrossKills++
			} else {
				r.t.Errorf("two calls to %s in flight together: %s %v at %s and %s %v at %s", a.PersonaID,
					a.Endpoint, a.Numbers, a.Time.Format("15:04:05.000"), b.Endpoint, b.Numbers, b.Time.Format("15:04:05.000"))
			}
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// checkHistory finds detach calls that took a number from the persona of the
// binding that held it, for the whole time the call was in flight (with a
// second of grace before it, for the operator's cache to see an edit).
func (r *modelRun) checkHistory() {
	r.checkOverlaps(sim.Calls(func(c blandsim.Call) bool { return c.Account == r.account && c.PersonaID != "" }))
	for _, c := range sim.Calls(func(c blandsim.Call) bool {
		return c.Account == r.account && c.Endpoint == blandsim.EndpointDetach && c.Status == 200
	}) {
		for _, n := range c.Numbers {
			if holder := r.heldThroughout(n, c.PersonaID, c.Time.Add(-time.Second), c.Done); holder != "" {
				r.t.Errorf("detach of %s from %s at %s while %s held it there", n, c.PersonaID, c.Time.Format("15:04:05.000"), holder)
			}
		}
	}
}

func (r *modelRun) heldThroughout(n, persona string, from, to time.Time) string {
	holder := ""
	for i, w := range r.history {
		end := time.Now()
		if i+1 < len(r.history) {
			end = r.history[i+1].at
		}
		if end.Before(from) || w.at.After(to) {
			continue // not in force during the call
		}
		h, ok := w.holder(n)
		if !ok || h.persona != persona || (holder != "" && holder != h.name) {
			return ""
		}
		holder = h.name
	}
	return holder
}
