package reliability

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// The online truth check. A watch records every status the run's bindings
// take, and every Ready=True is checked against what Bland held while that
// status was being written and read, so a false Ready fails the seed when it
// happens, not only at the end (where a forced fresh read would repair it).
//
// What Bland held when: the simulator's state is sampled (snapshot) right
// after every write call it records for this run (attached numbers and their
// settings), after every out-of-band change, and when each watch event
// arrives. Sampling rather than replaying sim.History() because the history
// does not carry the settings a PATCH set, nor out-of-band changes; and it is
// exact where it matters: the simulator samples in its OnCall hook, before the
// answer reaches the manager, so no status can be based on a state the
// timeline has not caught.
//
// Over which interval: Ready=True rests on the latest observation, which may
// be older than the status (a spec change is planned from the records), so
// each claim of a status is judged from the first moment an observation
// could support it until the watch event that showed the status (see
// falseReady). A status is called false only if every sample that may have
// been in force in that interval contradicts a claim; the lag between the
// status write and its watch event only lengthens the interval, so it can
// never make a true status look false. Numbers a binding received are judged
// from when it received them: only an observation after that shows them.

// simSnap is what Bland held for the run's personas at one moment.
type simSnap struct {
	at    time.Time
	state map[string]map[string]*blandsim.Settings // persona → number → settings
}

// observation is one watch event of a binding.
type observation struct {
	at time.Time
	pb *v1alpha1.PersonaBinding
}

// exemption lets (persona, number) stay attached with no owner from start
// until a binding's record takes the number again (end); zero end: still on.
// by is the binding whose deletion left the number ("" if out of band): its
// own last statuses, still arriving, take nothing back.
type exemption struct {
	start, end time.Time
	by         string
	// takenBy is the binding whose record ended the exemption; confirmed
	// says a finished pass of it (Ready not Progressing) still held the
	// number. An unconfirmed claim the record rolls back, with no call of
	// the operator on the number since, reopens the exemption: the number
	// is where the out-of-band change left it.
	takenBy   string
	confirmed bool
}

// truth is the recorder and checker of one model run.
type truth struct {
	run *modelRun

	mu      sync.Mutex
	snaps   []simSnap
	obs     []observation
	checked int
	exempt  map[[2]string][]*exemption
	cancel  context.CancelFunc
	done    chan struct{}
	falseN  int
}

func newTruth(r *modelRun) *truth {
	tr := &truth{run: r, exempt: map[[2]string][]*exemption{}, done: make(chan struct{})}
	tr.snapshot()
	return tr
}

// snapshot samples the simulator's state for the run's personas.
func (tr *truth) snapshot() time.Time {
	state := map[string]map[string]*blandsim.Settings{}
	for _, p := range tr.run.targets() {
		state[p] = map[string]*blandsim.Settings{}
		for _, n := range sim.Attached(p) {
			state[p][n] = sim.SettingsOf(p, n)
		}
	}
	at := time.Now()
	tr.mu.Lock()
	tr.snaps = append(tr.snaps, simSnap{at: at, state: state})
	tr.mu.Unlock()
	return at
}

// onCall is the simulator hook: a write of this run may have changed the state.
func (tr *truth) onCall(c blandsim.Call) {
	if c.IsWrite() && (c.Account == tr.run.account || slices.Contains(tr.run.callKeys(), c.PersonaID)) {
		tr.snapshot()
	}
}

// start watches the run's bindings of both kinds until stop.
func (tr *truth) start() {
	ctx, cancel := context.WithCancel(context.Background())
	tr.cancel = cancel
	var both sync.WaitGroup
	both.Go(func() {
		tr.watch(ctx, &v1alpha1.PersonaBindingList{}, func(o runtime.Object) *v1alpha1.PersonaBinding {
			pb, _ := o.(*v1alpha1.PersonaBinding)
			return pb
		})
	})
	both.Go(func() {
		tr.watch(ctx, &v1alpha1.AgentBindingList{}, func(o runtime.Object) *v1alpha1.PersonaBinding {
			if ab, ok := o.(*v1alpha1.AgentBinding); ok {
				return modelView(ab)
			}
			return nil
		})
	})
	go func() {
		both.Wait()
		close(tr.done)
	}()
}

// watch observes the bindings of list's kind until ctx ends, each as view
// makes it (nil: not a binding).
func (tr *truth) watch(ctx context.Context, list client.ObjectList, view func(runtime.Object) *v1alpha1.PersonaBinding) {
	rv := ""
	for ctx.Err() == nil {
		w, err := k8s.Watch(ctx, list, client.InNamespace(tr.run.ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			pb := view(ev.Object)
			if pb == nil || (ev.Type != watch.Added && ev.Type != watch.Modified && ev.Type != watch.Deleted) {
				continue
			}
			rv = pb.ResourceVersion
			tr.observe(pb)
		}
		w.Stop()
	}
}

func (tr *truth) stop() {
	if tr.cancel != nil {
		tr.cancel()
		<-tr.done
	}
}

// observe records one event, and ends the exemptions its record takes back.
func (tr *truth) observe(pb *v1alpha1.PersonaBinding) {
	at := tr.snapshot()
	// The record of a binding on its way out takes nothing back.
	leaving := !pb.DeletionTimestamp.IsZero() || tr.run.deleted(pb.Name)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.obs = append(tr.obs, observation{at: at, pb: pb})
	if leaving {
		return
	}
	ready := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	finished := ready != nil && ready.Reason != v1alpha1.ReasonProgressing
	held := map[string]bool{}
	for _, n := range pb.Status.BoundNumbers {
		held[n] = true
		for _, e := range tr.exempt[[2]string{pb.Spec.PersonaID, n}] {
			if e.end.IsZero() && e.start.Before(at) && e.by != pb.Name {
				e.end, e.takenBy = at, pb.Name
			}
			if e.takenBy == pb.Name && finished {
				e.confirmed = true
			}
		}
	}
	for k, es := range tr.exempt {
		if k[0] != pb.Spec.PersonaID || held[k[1]] {
			continue
		}
		last := es[len(es)-1]
		if last.takenBy == pb.Name && !last.confirmed && !last.end.IsZero() && !tr.operatorWrote(k[0], k[1], last.end) {
			tr.exempt[k] = append(es, &exemption{start: at})
		}
	}
}

// operatorWrote reports whether a write of the operator naming number n on
// persona p was answered with success since t.
func (tr *truth) operatorWrote(p, n string, since time.Time) bool {
	calls := sim.Calls(func(c blandsim.Call) bool {
		return c.IsWrite() && c.PersonaID == p && c.Status < 300 && !c.Time.Before(since.Add(-time.Second)) && slices.Contains(c.Numbers, n)
	})
	return len(calls) > 0
}

// exemptFrom lets n stay on p without an owner from at on; by is the
// binding whose deletion left it there, if any.
func (tr *truth) exemptFrom(p, n string, at time.Time, by string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	k := [2]string{p, n}
	tr.exempt[k] = append(tr.exempt[k], &exemption{start: at, by: by})
}

// everHeld reports whether a status of the binding named name ever showed n
// in its record (bound, or in a pending intent).
func (tr *truth) everHeld(name, n string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, o := range tr.obs {
		if o.pb.Name == name && slices.Contains(persona.Held(o.pb), n) {
			return true
		}
	}
	return false
}

// exempted reports whether an exemption of (p, n) was on at some moment of
// [from, to].
func (tr *truth) exempted(p, n string, from, to time.Time) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range tr.exempt[[2]string{p, n}] {
		if !e.start.After(to) && (e.end.IsZero() || !e.end.Before(from)) {
			return true
		}
	}
	return false
}

// eventsSince counts the watch events after t.
func (tr *truth) eventsSince(t time.Time) []observation {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []observation
	for _, o := range tr.obs {
		if o.at.After(t) {
			out = append(out, o)
		}
	}
	return out
}

// statesDuring returns every sample that may have been in force in [lo, to].
func (tr *truth) statesDuring(lo, to time.Time) []simSnap {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []simSnap
	for i, s := range tr.snaps {
		if s.at.After(to) {
			break
		}
		if !s.at.After(lo) && i+1 < len(tr.snaps) && !tr.snaps[i+1].at.After(lo) {
			continue // superseded before lo
		}
		out = append(out, s)
	}
	return out
}

// checkUpTo checks the observations made before upTo (the model's history
// is complete up to there, since every operation is recorded as soon as the
// API server answers).
func (tr *truth) checkUpTo(upTo time.Time) {
	for {
		tr.mu.Lock()
		if tr.checked >= len(tr.obs) || tr.obs[tr.checked].at.After(upTo) {
			tr.mu.Unlock()
			return
		}
		o := tr.obs[tr.checked]
		tr.checked++
		tr.mu.Unlock()
		if why := tr.falseReady(o); why != "" {
			tr.falseN++
			if tr.falseN <= 5 {
				tr.run.t.Errorf("false Ready: %s", why)
			}
		}
	}
}

func readyTrue(pb *v1alpha1.PersonaBinding) bool {
	for _, c := range pb.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == metav1.ConditionTrue && c.ObservedGeneration == pb.Status.ObservedGeneration
		}
	}
	return false
}

// falseReady says what was wrong if o is a Ready=True that no observation
// the operator may have planned from supports, or "".
//
// Ready=True claims that the latest observation shows the spec met.
// That observation may be older than the status: a spec change is planned
// from the records, and drift is only seen at a resync. So each claim is
// judged over its own interval, ending at the watch event:
//   - "n is attached (with its settings)": from the moment this binding
//     began holding n (with those settings) without a break, since an
//     observation before that cannot show a number it received;
//   - "n, which it dropped, is gone": from the moment it stopped holding n.
//
// A claim is false only if every sample of Bland in its interval
// contradicts it.
func (tr *truth) falseReady(o observation) string {
	pb := o.pb
	if !pb.DeletionTimestamp.IsZero() || !readyTrue(pb) {
		return ""
	}
	g := pb.Status.ObservedGeneration
	spec, since, ok := tr.run.generation(pb.Name, g)
	if !ok {
		return ""
	}
	// The operator planned from a snapshot holding this generation, so from
	// its world on (the one whose write began at since), never an earlier one.
	var worlds []world
	for _, w := range tr.run.worldsDuring(since, o.at) {
		if !w.start.Before(since) {
			worlds = append(worlds, w.with(spec))
		}
	}
	for _, c := range tr.claims(spec, since, o.at, worlds) {
		var last string
		for _, s := range tr.statesDuring(c.from, o.at) {
			if last = c.wrong(s); last == "" {
				break
			}
		}
		if last != "" {
			return fmt.Sprintf("%s generation %d Ready=True (%q), seen at %s: %s in every sample of Bland since %s",
				pb.Name, g, readyMessage(pb), o.at.Format("15:04:05.000"), last, c.from.Format("15:04:05.000"))
		}
	}
	return ""
}

// claim is one thing a Ready=True asserts, and since when it must have been
// observable.
type claim struct {
	from  time.Time
	wrong func(simSnap) string
}

// claims returns what Ready=True of spec asserts in every world that may
// have been in force: the numbers spec holds are attached with its settings,
// and the numbers it dropped, that nobody else wants, are gone. A number it
// dropped is one it was the last holder of before this generation: one held
// by another binding since is that one's business.
func (tr *truth) claims(spec modelBinding, since, to time.Time, worlds []world) []claim {
	var out []claim
	p := spec.persona
	for _, n := range spec.numbers {
		if slices.ContainsFunc(worlds, func(w world) bool { h, ok := w.holder(n); return !ok || h.name != spec.name }) {
			continue
		}
		out = append(out, claim{from: tr.run.tenure(spec, n, since, false), wrong: func(s simSnap) string {
			if _, on := s.state[p][n]; !on {
				return fmt.Sprintf("%s is not attached to %s", n, p)
			}
			return ""
		}})
		if want, ok := spec.settings[n]; ok {
			out = append(out, claim{from: tr.run.tenure(spec, n, since, true), wrong: func(s simSnap) string {
				if got, on := s.state[p][n]; on && !sameSettings(got, want) {
					return fmt.Sprintf("%s has settings %+v, spec wants %+v", n, deref(got), toSettings(want))
				}
				return ""
			}})
		}
	}
	if spec.suspend || slices.ContainsFunc(worlds, func(w world) bool { return w.lostPersona(spec) }) {
		return out
	}
	for n, last := range tr.run.lastHolders(since) {
		if last.name != spec.name || last.persona != p || slices.Contains(spec.numbers, n) {
			continue
		}
		// The model makes the oldest lister the holder at once; the operator
		// hands a number over only once the taker's key works. A binding
		// whose record never held n did not drop it: the record that holds
		// it (a deleted binding's, still detaching it) answers for it, and
		// a leak shows at quiescence.
		if !tr.everHeld(spec.name, n) {
			continue
		}
		from := last.until
		if tr.exempted(p, n, from, to) {
			continue
		}
		wanted := slices.ContainsFunc(tr.run.worldsDuring(from, to), func(w world) bool {
			return slices.ContainsFunc(w.live(), func(b modelBinding) bool { return b.name != spec.name && slices.Contains(b.numbers, n) })
		})
		if !wanted {
			out = append(out, claim{from: from, wrong: func(s simSnap) string {
				if _, on := s.state[p][n]; on {
					return fmt.Sprintf("%s, which it dropped, is still attached to %s", n, p)
				}
				return ""
			}})
		}
	}
	return out
}

func deref(s *blandsim.Settings) blandsim.Settings {
	if s == nil {
		return blandsim.Settings{}
	}
	return *s
}
