package reliability

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// nemesisState is what the nemesis has done that the checks must know.
type nemesisState struct {
	// cuts are the periods the managers were cut off from the API server.
	cuts [][2]time.Time
	// revokedAt is when the key was revoked (zero: it works); restoreIn
	// counts the steps until it is restored.
	revokedAt time.Time
	restoreIn int
	// bornRevoked are the bindings created while the key was revoked, and
	// diedRevoked those of them deleted (deletionPolicy Detach) in the same
	// window: they never attached anything, so they own nothing and must be
	// released at once whatever the key does.
	bornRevoked map[string]time.Time
	diedRevoked map[string]time.Time
	// doomed is the binding revokeKey created, deleted before the restore.
	doomed string
	// onRelease counts the steps left with the last release's binary
	// leading (runRelease); 0 when this tree's runs.
	onRelease int
}

// nemesisKind is one fault the nemesis can do, with its weight in the mix.
type nemesisKind struct {
	name   string
	weight int
	do     func(r *modelRun, w world)
}

// nemesisKinds are the faults, by name. MODEL_NEMESIS=name,name keeps only
// those (to reproduce one class of defect quickly).
var nemesisKinds = []nemesisKind{
	{"attach-out-of-band", 4, func(r *modelRun, _ world) {
		p, n := r.personas[r.rng.IntN(len(r.personas))], r.pool[r.rng.IntN(len(r.pool))]
		start := time.Now()
		sim.AttachOutOfBand(p, n)
		r.truth.snapshot()
		r.truth.exemptFrom(p, n, start, "")
		r.note("out of band: attach %s to %s", n, p)
	}},
	{"detach-out-of-band", 2, func(r *modelRun, _ world) {
		p := r.personas[r.rng.IntN(len(r.personas))]
		if attached := sim.Attached(p); len(attached) > 0 {
			n := attached[r.rng.IntN(len(attached))]
			sim.DetachOutOfBand(p, n)
			r.truth.snapshot()
			r.note("out of band: detach %s from %s", n, p)
		}
	}},
	{"503", 3, func(r *modelRun, _ world) {
		sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 503, Account: r.account}, 1+r.rng.IntN(2))
		r.note("fault: next calls answer 503")
	}},
	{"429", 2, func(r *modelRun, _ world) {
		sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: "1", Account: r.account}, 1)
		r.note("fault: next call answers 429, Retry-After 1")
	}},
	{"late-landing", 3, func(r *modelRun, _ world) {
		// The client gives up after --api-timeout (2s); the write lands later.
		ep := []blandsim.Endpoint{blandsim.EndpointAttach, blandsim.EndpointDetach, blandsim.EndpointSettings}[r.rng.IntN(3)]
		sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultHang, Duration: 10 * time.Second, Account: r.account, Endpoint: ep}, 1)
		r.note("fault: next %s hangs past the client's timeout and lands late", ep)
	}},
	{"kill", 3, func(r *modelRun, _ world) {
		r.note("kill -9 the leader")
		if r.reps.signalLeader(syscall.SIGKILL) {
			r.note("killed (a new standby starts)")
		}
	}},
	{"sigterm", 3, (*modelRun).termMidCall},
	{"api-cut", 3, func(r *modelRun, _ world) {
		d := time.Duration(2000+r.rng.IntN(3000)) * time.Millisecond
		start := time.Now()
		apiServerProxy.Cut(d)
		r.nemesis.cuts = append(r.nemesis.cuts, [2]time.Time{start, start.Add(d)})
		r.note("API server cut off from the managers for %s", d)
	}},
	{"revoke-key", 3, (*modelRun).revokeKey},
	{"v1-words", 2, func(r *modelRun, _ world) {
		on := r.rng.IntN(2) == 0
		sim.SetV1Refusals(r.account, on)
		r.note("Bland answers foreign numbers in v1 words: %t", on)
	}},
	{"drift-then-move", 4, (*modelRun).driftThenMove},
	{"refused-neighbours", 3, (*modelRun).refusedNeighbours},
	{"secret-deleted", 2, (*modelRun).deleteSecret},
	{"persona-deleted", 2, (*modelRun).deletePersona},
	{"org-rate-limit", 2, (*modelRun).limitOrganization},
	{"term-after-timeout", 2, (*modelRun).termAfterTimeout},
	{"foreign-key", 2, (*modelRun).swapKey},
	{"offboard", 2, (*modelRun).offboard},
	{"upgrade", 2, (*modelRun).runRelease},
}

// nemesisEnabled says whether a kind is in MODEL_NEMESIS (or it is unset).
func nemesisEnabled(name string) bool {
	only := os.Getenv("MODEL_NEMESIS")
	return only == "" || slices.Contains(strings.Split(only, ","), name)
}

// enabled says whether the run may do a fault of kind k. The upgrade from
// the last release is left out of the ciSeeds, so that each replays the
// workload that once found its defect; new seeds (make test-model) do it.
func (r *modelRun) enabled(k nemesisKind) bool {
	return nemesisEnabled(k.name) && (k.name != "upgrade" || !slices.Contains(ciSeeds, r.seed))
}

// nemesisStep does one fault, drawn by weight among the enabled kinds.
// While the last release leads, there is none: the release has defects this
// tree fixed, and the run checks the upgrade from it, not the release.
func (r *modelRun) nemesisStep(w world) {
	if r.nemesis.onRelease > 0 {
		return
	}
	total := 0
	for _, k := range nemesisKinds {
		if r.enabled(k) {
			total += k.weight
		}
	}
	if total == 0 {
		return
	}
	pick := r.rng.IntN(total)
	for _, k := range nemesisKinds {
		if !r.enabled(k) {
			continue
		}
		if pick -= k.weight; pick < 0 {
			k.do(r, w)
			return
		}
	}
}

// revokeKey revokes the API key for a few steps, and creates a binding
// (deletionPolicy Detach) that tick deletes before the key comes back: it
// never attaches anything, so its deletion must not wait for the key.
func (r *modelRun) revokeKey(w world) {
	if !r.nemesis.revokedAt.IsZero() || r.lapses.secretGone > 0 || r.lapses.foreignKey > 0 {
		return
	}
	sim.RevokeKey(r.key)
	r.nemesis.revokedAt, r.nemesis.restoreIn = time.Now(), 3+r.rng.IntN(6)
	r.nemesis.bornRevoked, r.nemesis.diedRevoked = map[string]time.Time{}, map[string]time.Time{}
	r.note("API key revoked in Bland")
	r.create(w, len(w.bindings), func(b *modelBinding) { b.orphan, b.suspend = false, false })
	r.nemesis.doomed = fmt.Sprintf("b-%03d", len(w.bindings))
	// Let the operator meet the refused key before the deletion comes (it
	// claims the numbers, then Bland answers 401), unless it is cut off.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		var pb v1alpha1.PersonaBinding
		if err := k8s.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: r.nemesis.doomed}, &pb); err != nil || pb.Status.ObservedGeneration >= 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// driftThenMove is a GitOps commit that moves a number between two bindings
// of one persona after it drifted off it: a newer binding lists it, the older
// holder drops it, and the newer one changes in another way too. The newer one received a number it must see attached
// before it may say Ready.
func (r *modelRun) driftThenMove(w world) {
	for _, a := range w.live() {
		for _, n := range a.numbers {
			h, ok := w.holder(n)
			if !ok || h.name != a.name || !slices.Contains(sim.Attached(a.persona), n) {
				continue
			}
			for _, b := range w.live() {
				if b.order <= a.order || b.persona != a.persona || b.suspend || w.lostPersona(b) || slices.Contains(b.numbers, n) {
					continue
				}
				sim.DetachOutOfBand(a.persona, n)
				r.truth.snapshot()
				r.note("out of band: detach %s from %s (drift before a move)", n, a.persona)
				b.numbers = append(slices.Clone(b.numbers), n)
				slices.Sort(b.numbers)
				r.editTo(w, b)
				w = r.now()
				w.bindings = slices.Clone(w.bindings)
				a = w.bindings[a.order]
				a.numbers = slices.DeleteFunc(slices.Clone(a.numbers), func(x string) bool { return x == n })
				a.settings = maps.Clone(a.settings)
				delete(a.settings, n)
				r.editTo(w, a)
				// The commit changed the newer binding in another way too: its
				// reconcile of that change must not trust a record it never read.
				w = r.now()
				w.bindings = slices.Clone(w.bindings)
				b = w.bindings[b.order]
				b.orphan = !b.orphan
				r.editTo(w, b)
				return
			}
		}
	}
}

// refusedNeighbours creates two bindings of one persona, each listing a
// number the account does not own next to numbers it owns: refusals must
// neither block the good numbers nor wake the neighbour into a loop.
func (r *modelRun) refusedNeighbours(w world) {
	persona := r.personas[r.rng.IntN(len(r.personas))]
	for i := range 2 {
		good := r.pick(1 + r.rng.IntN(2))
		good = slices.DeleteFunc(good, func(n string) bool { return slices.Contains(r.foreign, n) })
		numbers := append(slices.Clone(good), r.foreign[i])
		slices.Sort(numbers)
		r.create(w, len(w.bindings), func(b *modelBinding) {
			b.persona, b.numbers, b.suspend, b.exclusive = persona, numbers, false, false
			b.settings = r.pickSettings(b.numbers)
		})
		w = r.now()
		w.bindings = slices.Clone(w.bindings)
	}
}

// termMidCall sends SIGTERM to the leader while it has a write to a persona
// in flight, held at the simulator, and lets the write through 200 ms later.
// Graceful shutdown must wait for it before releasing the Lease: checkHistory flags a write it abandoned, and two calls
// to the persona in flight together across the handover.
func (r *modelRun) termMidCall(w world) {
	b, holds, _, ok := r.editWithWritesHeld(w, r.rng.IntN(4))
	if !ok {
		return
	}
	defer releaseAll(holds)
	exited := make(chan bool)
	go func() { exited <- r.reps.signalLeader(syscall.SIGTERM) }()
	time.Sleep(200 * time.Millisecond)
	releaseAll(holds)
	select {
	case ok := <-exited:
		if ok {
			r.note("SIGTERM the leader with a write to %s held in flight (a new standby starts)", b.persona)
		}
	case <-time.After(15 * time.Second):
		r.t.Errorf("the leader did not exit within 15s of SIGTERM")
		<-exited
	}
}

// editWithWritesHeld edits a live, unsuspended binding to n new numbers
// with the persona's attaches and detaches held at the simulator, and waits
// (up to 1.5 s) for a write to arrive there; arrived says whether one did.
// ok is false when no binding could be edited. The caller releases holds.
func (r *modelRun) editWithWritesHeld(w world, n int) (b modelBinding, holds []*blandsim.Hold, arrived, ok bool) {
	// Its holds are of persona calls: an AgentBinding's calls are the agent's.
	live := slices.DeleteFunc(w.live(), func(b modelBinding) bool { return b.suspend || b.agent != "" })
	if len(live) == 0 {
		return b, nil, false, false
	}
	b = live[r.rng.IntN(len(live))]
	holds = []*blandsim.Hold{sim.HoldCalls(b.persona, blandsim.EndpointAttach), sim.HoldCalls(b.persona, blandsim.EndpointDetach)}
	b.numbers = r.pick(n)
	b.settings = r.pickSettings(b.numbers)
	r.editTo(w, b)
	select {
	case <-holds[0].Arrived():
		arrived = true
	case <-holds[1].Arrived():
		arrived = true
	case <-time.After(1500 * time.Millisecond):
	}
	return b, holds, arrived, true
}

func releaseAll(holds []*blandsim.Hold) {
	for _, h := range holds {
		h.Release()
	}
}

// editTo writes b's spec as an edit.
func (r *modelRun) editTo(w world, b modelBinding) {
	start := time.Now()
	gen, err := r.writeSpec(b)
	must(r.t, err)
	b.generation = gen
	w.bindings[b.order] = b
	r.recordGeneration(b, start)
	r.commit(w, start, "edit %s (generation %d)", describe(b), b.generation)
}

// tick deletes the doomed binding, then restores a revoked key, when their
// steps are up.
func (ns *nemesisState) tick(r *modelRun) {
	if ns.onRelease > 0 {
		if ns.onRelease--; ns.onRelease == 0 {
			r.upgrade()
		}
	}
	if ns.revokedAt.IsZero() {
		return
	}
	if ns.restoreIn--; ns.restoreIn == 1 || (ns.restoreIn <= 0 && ns.doomed != "") {
		r.deleteDoomed()
	}
	if ns.restoreIn <= 0 {
		r.restoreKey()
	}
}

func (r *modelRun) deleteDoomed() {
	w := r.now()
	w.bindings = slices.Clone(w.bindings)
	for _, b := range w.live() {
		if b.name == r.nemesis.doomed {
			r.remove(w, b)
		}
	}
	r.nemesis.doomed = ""
}

func (ns *nemesisState) created(name string, at time.Time) {
	if !ns.revokedAt.IsZero() {
		ns.bornRevoked[name] = at
	}
}

func (ns *nemesisState) deleted(name string, orphan bool, at time.Time) {
	if _, ok := ns.bornRevoked[name]; ok && !orphan && !ns.revokedAt.IsZero() {
		ns.diedRevoked[name] = at
	}
}

// restoreKey first checks that every binding born and deleted while the key
// was revoked, which never had a number attached, is gone (waiting until its
// deletion is 4 s old, counted from when the managers could reach the API
// server again and a leader could be elected after a cut), then restores
// the key.
func (r *modelRun) restoreKey() {
	ns := &r.nemesis
	for name, at := range ns.diedRevoked {
		from := at
		for _, c := range ns.cuts {
			if c[1].After(from) && c[0].Before(from.Add(4*time.Second)) {
				from = c[1].Add(leaseDuration)
			}
		}
		if wait := time.Until(from.Add(4 * time.Second)); wait > 0 {
			time.Sleep(wait)
		}
		var pb v1alpha1.PersonaBinding
		if err := k8s.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: name}, &pb); err != nil {
			continue // gone
		}
		if r.everAttached(name, ns.bornRevoked[name]) {
			continue // it may own something, which needs the key to detach
		}
		r.t.Errorf("%s was created and deleted (at %s) while the key was revoked and never had a number attached, "+
			"so it owns nothing, but it still exists 4s later: finalizers %v, boundNumbers %v, Ready %q",
			name, at.Format("15:04:05.000"), pb.Finalizers, pb.Status.BoundNumbers, readyMessage(&pb))
	}
	sim.RestoreKey(r.key)
	ns.revokedAt = time.Time{}
	r.note("API key restored")
}

// everAttached reports whether a number the binding listed was attached to
// its persona at some moment since `since`.
func (r *modelRun) everAttached(name string, since time.Time) bool {
	r.mu.Lock()
	listed := r.listed[name]
	persona := ""
	for _, w := range r.history {
		for _, b := range w.bindings {
			if b.name == name {
				persona = b.persona
			}
		}
	}
	r.mu.Unlock()
	for _, s := range r.truth.statesDuring(since, time.Now()) {
		for n := range listed {
			if _, on := s.state[persona][n]; on {
				return true
			}
		}
	}
	return false
}

// cutBefore returns the start of the cut t falls in, or follows by at most a
// second (the managers' watches take a moment to come back).
func (ns *nemesisState) cutBefore(t time.Time) (time.Time, bool) {
	for _, c := range ns.cuts {
		if !t.Before(c[0]) && !t.After(c[1].Add(time.Second)) {
			return c[0], true
		}
	}
	return time.Time{}, false
}

// runRelease rolls the managers back to the last release's binary (as a
// rollback would) for a few steps of user changes; tick then upgrades.
func (r *modelRun) runRelease(world) {
	if r.nemesis.onRelease > 0 || !r.nemesis.revokedAt.IsZero() || r.lapses.active() {
		return
	}
	bin, missing, err := lastReleaseBinary()
	switch {
	case err != nil:
		r.t.Fatal(err)
	case missing != "":
		r.note("no upgrade: %s", missing)
		return
	}
	// No fault queued earlier meets the release's calls: it forgets an
	// attach whose answer never came once its next read misses it (a
	// defect this tree fixed), and the model is about this tree. What the
	// upgrade itself leaves in flight is this tree's to handle.
	sim.ClearFaults()
	r.reps.rollTo(bin)
	r.nemesis.onRelease = 2 + r.rng.IntN(4)
	if !r.reps.waitLeaderRuns(bin, 15*time.Second) {
		r.t.Errorf("no process of the last release took the Lease within 15s")
	}
	r.note("the managers rolled back to the last release (%s), which leads, for %d steps", lastRelease[:7], r.nemesis.onRelease)
}

// upgrade ends the last release's tenure as an upgrade that goes badly: the
// release's processes are killed with an edit's write held in flight at
// Bland (it lands later), and this tree's binary replaces them.
func (r *modelRun) upgrade() {
	r.nemesis.onRelease = 0
	bin := r.reps.binary()
	r.reps.setBinary(managerBin)
	w := r.now()
	w.bindings = slices.Clone(w.bindings)
	b, holds, arrived, ok := r.editWithWritesHeld(w, 1+r.rng.IntN(3))
	r.reps.killAll(bin)
	releaseAll(holds)
	if ok && arrived {
		r.note("upgrade: the release's processes killed with a write to %s in flight; this tree's binary replaces them", b.persona)
	} else {
		r.note("upgrade: the release's processes killed; this tree's binary replaces them")
	}
}
