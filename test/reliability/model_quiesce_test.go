package reliability

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// quietWindow is how long a settled system is watched for calls, status
// writes, passes and Secret reads: ten resyncs of every persona.
const quietWindow = 10 * modelResync

// settleLimit is how soon after the last change and fault every persona
// must match its bindings when nobody asks: two resyncs (the first after a
// restart comes within two intervals), after the deadline of an intent
// written for a call in doubt at the last fault (three API timeouts).
const settleLimit = 2*modelResync + 3*apiTimeout

// quiesce ends the nemesis, approves any detach waiting on a detach limit,
// and waits until the model's expectations hold, then watches a quiet
// window. Nobody asks for a reconcile: what the nemesis left (drift, a
// stall carried since a revoked key) must be put right by the resyncs
// alone, as it is in a cluster nobody watches. MODEL_REQUEST=1 asks for a
// fresh look instead, to tell a resync problem from another.
func (r *modelRun) quiesce() {
	if !r.nemesis.revokedAt.IsZero() {
		r.restoreKey()
	}
	r.endLapses()
	sim.ClearFaults()
	for _, p := range r.personas {
		sim.SetPersonaLatency(p, 0)
	}
	// A write already hanging is given up after the API timeout and lands
	// lateDelay later: the model must not settle before it has.
	time.Sleep(apiTimeout + r.lateDelay + 200*time.Millisecond)
	for _, c := range r.nemesis.cuts {
		time.Sleep(time.Until(c[1]))
	}
	byResync := os.Getenv("MODEL_REQUEST") == ""
	stamp := ""
	if !byResync {
		stamp = fmt.Sprint(time.Now().UnixNano())
	}
	for _, b := range r.now().live() {
		pb := r.emptyObject(b)
		must(r.t, k8s.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: b.name}, pb))
		// A merge patch of annotations keeps the generation the approval names.
		annotations := fmt.Sprintf(`%q:"%d"`, v1alpha1.ApproveDetachAnnotation, pb.GetGeneration())
		if stamp != "" {
			annotations += fmt.Sprintf(`,%q:%q`, v1alpha1.ReconcileRequestedAtAnnotation, stamp)
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%s}}}`, annotations)
		must(r.t, k8s.Patch(r.ctx, pb, client.RawPatch(types.MergePatchType, []byte(patch))))
	}
	limit := 90 * time.Second
	if byResync {
		limit = settleLimit
		r.note("quiesce without a requested reconcile: drift is repaired by resyncs")
	}
	start := time.Now()
	deadline := start.Add(limit)
	var problems []string
	for time.Now().Before(deadline) {
		r.truth.checkUpTo(time.Now().Add(-500 * time.Millisecond))
		if problems = r.violations(stamp); len(problems) == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.settledIn = time.Since(start)
	if len(problems) > 0 {
		// The run's last calls show whether a stuck persona was read at
		// all after its last fault.
		calls := sim.Calls(func(c blandsim.Call) bool { return slices.Contains(r.callKeys(), c.PersonaID) })
		calls = calls[max(len(calls)-12, 0):]
		r.t.Errorf("at quiescence (%s after the last operation):\n  %s\n  last calls: %s", limit, strings.Join(problems, "\n  "), describeCalls(calls))
		return
	}
	if byResync {
		// The quiet window starts once the settling time is over, not as
		// soon as the model holds: the resyncs within it may still settle
		// what the model does not see (a call in doubt past its deadline, a
		// number a deleted binding held, a suspended binding's report). The
		// model must still hold then.
		time.Sleep(time.Until(deadline))
		r.truth.checkUpTo(time.Now().Add(-500 * time.Millisecond))
		if problems := r.violations(stamp); len(problems) > 0 {
			r.t.Errorf("%s after the last operation the model held, and then no longer:\n  %s", limit, strings.Join(problems, "\n  "))
			return
		}
	}
	r.quietWindow()
	r.truth.checkUpTo(time.Now())
}

// quietWindow: a settled system, watched for ten resyncs, writes nothing
// to Bland and no status, and reads each persona once per resync. One thing
// a resync may also do: try again the numbers Bland refused as not the
// account's (one may have been bought since), which costs refused attaches
// (one per refused number, as Bland's v1 answer names only the first), the
// binding's intent and the status that settles it, once per resync. Passes and Secret reads count too:
// a loop that calls nothing and writes nothing still holds a worker and
// reads Secrets. The run's calls are those naming its account or one of
// its personas (a 401 names no account).
func (r *modelRun) quietWindow() {
	ours := func(c blandsim.Call) bool {
		return c.Account == r.account || slices.Contains(r.callKeys(), c.PersonaID)
	}
	foreign := func(n string) bool { return slices.Contains(r.foreign, n) }
	retry := func(c blandsim.Call) bool {
		return (c.Endpoint == blandsim.EndpointAttach || c.Endpoint == blandsim.EndpointAgentAttach) && c.Status >= 400 && len(c.Numbers) > 0 && !slices.ContainsFunc(c.Numbers, func(n string) bool { return !foreign(n) })
	}
	mark, since := len(sim.Calls(ours)), time.Now()
	passes0, reads0 := r.reps.counters()
	time.Sleep(quietWindow)
	extra := sim.Calls(ours)[mark:]
	passes1, reads1 := r.reps.counters()
	// Resyncs are jittered by a tenth of the interval either way: a window
	// of ten intervals holds at most twelve resyncs of a persona. The
	// window is the one the passes were counted over: the quiet window and
	// the scrapes of the managers' metrics at both ends (a tenth of a
	// second alone, longer on a loaded machine). Seed 550196 once counted
	// one pass more than the bound of the quiet window alone, under load
	// only; whether the scrapes were why is not known.
	window := time.Since(since)
	resyncs := int(window*10/(modelResync*9)) + 1
	live := r.now().live()
	refusable := map[string]int{} // foreign numbers listed, by persona
	for _, b := range live {
		for _, n := range b.numbers {
			if foreign(n) && !b.suspend {
				refusable[b.persona]++
			}
		}
	}
	gets, retries := map[string]int{}, map[string]int{}
	var writes []blandsim.Call
	for _, c := range extra {
		switch {
		case retry(c):
			retries[r.callTarget(c)]++
		case c.Endpoint == blandsim.EndpointGet || c.Endpoint == blandsim.EndpointAgentGet:
			gets[r.callTarget(c)]++
		default:
			writes = append(writes, c)
		}
	}
	if len(writes) > 0 {
		r.t.Errorf("%d writes to Bland in the %s after the bindings settled: %s", len(writes), quietWindow, describeCalls(writes))
	}
	// A write to a binding (a refused number's retry) wakes the personas
	// whose bindings list its numbers; one that must read to plan (a
	// handover it waits for, a suspended binding's report) reads once.
	writesBy := map[string]int{}
	for _, o := range r.truth.eventsSince(since) {
		writesBy[o.pb.Spec.PersonaID]++
	}
	for p, n := range gets {
		woken := 0
		for q, w := range writesBy {
			if q != p {
				woken += w
			}
		}
		if n > resyncs+woken {
			mine := slices.DeleteFunc(slices.Clone(extra), func(c blandsim.Call) bool { return r.callTarget(c) != p })
			r.t.Errorf("%d reads of %s in the %s after the bindings settled, more than one per resync (%d) and one per write to another persona's binding (%d): %s",
				n, p, quietWindow, resyncs, woken, describeCalls(mine))
		}
	}
	for p, n := range retries {
		if n > resyncs*refusable[p] {
			r.t.Errorf("%d refused attaches to %s in the %s after the bindings settled, more than one per refused number (%d) per resync", n, p, quietWindow, refusable[p])
		}
	}
	perBinding := map[string]int{}
	var names []string
	for _, o := range r.truth.eventsSince(since) {
		perBinding[o.pb.Name]++
		if retries[o.pb.Spec.PersonaID] > 0 && slices.ContainsFunc(o.pb.Spec.InboundNumbers, foreign) && perBinding[o.pb.Name] <= 2*resyncs {
			continue // a refused number's retry: its intent, and the status that settles it
		}
		names = append(names, fmt.Sprintf("%s@%s (%s)", o.pb.Name, o.at.Format("15:04:05.000"), readyMessage(o.pb)))
	}
	if len(names) > 0 {
		r.t.Errorf("%d binding writes in the %s after the bindings settled: %s", len(names), quietWindow, strings.Join(names, ", "))
	}
	// A settled persona is looked at once per resync, plus, for each write
	// a refused number's retry made, one pass of each other persona (or the
	// agent) whose bindings list or hold one of its numbers: the watch wakes
	// them all (at least one pass a write, as for its own persona).
	allowed := len(r.targets()) * resyncs
	views, err := listViews(r.ctx, r.ns)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, o := range r.truth.eventsSince(since) {
		allowed += max(1, len(wokenBy(o.pb, views)))
	}
	if passes := passes1 - passes0; passes > float64(allowed) {
		r.t.Errorf("%.0f passes in the %s after the bindings settled, want at most %d (one per persona per resync, and one per persona a binding write wakes)", passes, quietWindow, allowed)
	}
	// A pass reads each source of its bindings' keys once (the Secret, and
	// the account's Secret). It counts when it ends, its Secret reads when
	// it starts: a pass of each persona may straddle the window's end. The
	// account looks at its Secret once a minute besides.
	sources := 0
	for _, p := range r.targets() {
		kinds := map[bool]bool{}
		for _, b := range live {
			if b.persona == p {
				kinds[viaAccount(b)] = true
			}
		}
		sources = max(sources, len(kinds))
	}
	if reads := reads1 - reads0; reads > float64(sources)*(passes1-passes0+float64(len(r.targets())))+1 {
		r.t.Errorf("%.0f Secret reads in the %s after the bindings settled, more than one per pass and source of keys (%d)", reads, quietWindow, sources)
	}
	report(r.t, "settled %s after the last fault (limit %s); quiet window of %s (%s with the metrics scrapes, up to %d resyncs): %.0f passes, %.0f Secret reads, %d Bland calls for %d personas",
		r.settledIn.Round(100*time.Millisecond), settleLimit, quietWindow, window.Round(100*time.Millisecond), resyncs, passes1-passes0, reads1-reads0, len(extra), len(r.targets()))
}

func describeCalls(calls []blandsim.Call) string {
	var out []string
	for i, c := range calls {
		if i == 12 {
			out = append(out, fmt.Sprintf("… and %d more", len(calls)-i))
			break
		}
		out = append(out, fmt.Sprintf("%s %s %s %v → %d", c.Time.Format("15:04:05.000"), c.Endpoint, c.PersonaID, c.Numbers, c.Status))
	}
	return strings.Join(out, "; ")
}

// violations compares the cluster and the simulator with the model.
func (r *modelRun) violations(stamp string) []string {
	w := r.now()
	var out []string
	items, err := listViews(r.ctx, r.ns)
	must(r.t, err)
	objects := map[string]v1alpha1.PersonaBinding{}
	for _, pb := range items {
		objects[pb.Name] = pb
		// A call still in doubt is settled by a read after its deadline,
		// which writes the status: the system has not settled before. The
		// one allowance: the intent of a resync's retry of numbers Bland
		// refuses (foreign), which its answer settles a moment later.
		if in, pending := persona.PendingIntent(&pb); pending && !allForeign(in.Numbers, r.foreign) {
			out = append(out, fmt.Sprintf("%s: intent %d on %v not settled yet (deadline %s)", pb.Name, in.Seq, in.Numbers, in.Until.Format("15:04:05")))
		}
	}
	attached := map[string][]string{}
	for _, p := range r.targets() {
		attached[p] = sim.Attached(p)
	}
	for _, b := range w.bindings {
		pb, exists := objects[b.name]
		if b.deleted {
			if exists {
				out = append(out, fmt.Sprintf("%s was deleted but remains, finalizers %v, Ready %q", b.name, pb.Finalizers, readyMessage(&pb)))
			}
			continue
		}
		if !exists {
			out = append(out, b.name+" is missing")
			continue
		}
		out = append(out, r.bindingViolations(w, b, pb, attached[b.persona], stamp)...)
	}
	for _, p := range r.targets() {
		for _, n := range attached[p] {
			if why := r.unexplained(w, objects, p, n); why != "" {
				out = append(out, why)
			}
		}
	}
	return out
}

func (r *modelRun) bindingViolations(w world, b modelBinding, pb v1alpha1.PersonaBinding, onPersona []string, stamp string) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, b.name+": "+fmt.Sprintf(format, args...)) }
	if pb.Status.ObservedGeneration != pb.Generation || (stamp != "" && pb.Status.LastHandledReconcileAt != stamp) {
		bad("status describes generation %d, not %d (or the requested reconcile is not handled)", pb.Status.ObservedGeneration, pb.Generation)
		return out
	}
	want := []string{v1alpha1.ReasonSynced}
	switch {
	case b.suspend:
		want = []string{v1alpha1.ReasonSuspended}
	case w.conflicted(b) && w.listsForeign(b):
		want = []string{v1alpha1.ReasonNumberConflict, v1alpha1.ReasonNumberNotOwned}
	case w.conflicted(b):
		want = []string{v1alpha1.ReasonNumberConflict}
	case w.listsForeign(b):
		want = []string{v1alpha1.ReasonNumberNotOwned}
	}
	if got := readyReason(&pb); !slices.Contains(want, got) {
		bad("Ready reason %q (%s), model expects %v", got, readyMessage(&pb), want)
	}
	for _, n := range b.numbers {
		h, ok := w.holder(n)
		if !ok || h.name != b.name {
			continue
		}
		if !slices.Contains(onPersona, n) {
			bad("holds %s but it is not attached to %s", n, b.persona)
		}
		if !slices.Contains(pb.Status.BoundNumbers, n) {
			bad("holds %s but boundNumbers %v does not list it", n, pb.Status.BoundNumbers)
		}
		got := sim.SettingsOf(b.persona, n)
		if s, ok := b.settings[n]; ok && !sameSettings(got, s) {
			bad("holds %s with settings %+v, spec wants %+v", n, deref(got), toSettings(s))
		}
		if _, ok := b.settings[n]; !ok && got != nil && r.onlySetter(b.persona, n, b.name) {
			bad("holds %s with settings %+v it removed from its spec (nobody else ever set any)", n, *got)
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

// onlySetter reports whether name is the only binding that ever had settings
// for n on persona p (and it had some).
func (r *modelRun) onlySetter(p, n, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	setters := r.everSet[[2]string{p, n}]
	return len(setters) == 1 && setters[name]
}

// unexplained says why n should not be attached to p, or "" if it may be.
// Being listed somewhere explains nothing by itself: an attached number needs
// an owner in the model, an exemption still on (out of band, or left by a
// deletion, until a binding's record takes it back), or a binding on p that
// lists it or has it in its record but may not act on it (suspended, shut
// out of the persona, or an older binding lists the number), which leaves it
// alone. A binding on p that may act and
// still has it in its record should have detached it.
func (r *modelRun) unexplained(w world, objects map[string]v1alpha1.PersonaBinding, p, n string) string {
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
	if r.truth.exempted(p, n, time.Now(), time.Now()) {
		return ""
	}
	for _, b := range w.live() {
		recorded := slices.Contains(objects[b.name].Status.BoundNumbers, n)
		if b.persona != p || (!recorded && !slices.Contains(b.numbers, n)) {
			continue
		}
		older, _ := w.oldestLister(n)
		if b.suspend || w.lostPersona(b) || (older.name != "" && older.name != b.name) {
			return ""
		}
		if recorded {
			return fmt.Sprintf("%s is on %s, owned by nobody; %s's record lists it but it should have detached it", n, p, b.name)
		}
	}
	return fmt.Sprintf("%s is on %s, owned by nobody, and no record or operation explains it", n, p)
}

// allForeign reports whether every number is one Bland refuses to attach.
func allForeign(numbers, foreign []string) bool {
	for _, n := range numbers {
		if !slices.Contains(foreign, n) {
			return false
		}
	}
	return len(numbers) > 0
}

// wokenBy are the other personas (the agent's routing persona for its
// bindings) whose bindings list or hold a number pb lists or holds: those a
// write to pb wakes.
func wokenBy(pb *v1alpha1.PersonaBinding, views []v1alpha1.PersonaBinding) map[string]bool {
	numbers := func(b *v1alpha1.PersonaBinding) []string {
		return slices.Concat(b.Spec.InboundNumbers, b.Status.BoundNumbers)
	}
	mine := numbers(pb)
	out := map[string]bool{}
	for i := range views {
		v := &views[i]
		if v.Spec.PersonaID == pb.Spec.PersonaID {
			continue
		}
		if slices.ContainsFunc(numbers(v), func(n string) bool { return slices.Contains(mine, n) }) {
			out[v.Spec.PersonaID] = true
		}
	}
	return out
}
