package persona

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// The fixpoint check drives the pure core through every short history of
// events over a small world (two personas, three bindings, four numbers),
// with Bland played by a map and each pass made the way the shell makes it
// (intent before an attach, answers or their absence, status from the
// outcome). After the events the inputs freeze; every persona must then
// reach, within three passes, a pass that plans no call and changes no
// status, and no pass may ever detach a number a live binding still claims
// or report Ready=True while Bland contradicts the spec.

// world is the state the events change and the passes read.
type world struct {
	now      time.Time
	bindings []*worldBinding
	bland    map[string]string // number -> persona it is attached to
	refused  map[string]bool   // numbers Bland will not attach
	// unanswered: the next pass's first call gets no answer; it lands two
	// rounds later (inflight, with its round), after two reads of the
	// persona and before its deadline: a pass is 1 s, so a round is 2 s,
	// and a call lands within 6 s (the grace), its intent's deadline 12 s
	// after it was written.
	unanswered bool
	inflight   []landing
	rounds     int
	// leftAttached are numbers a deletion left attached on purpose (a
	// suspended binding deleted); outOfBand are numbers drift attached.
	leftAttached, outOfBand map[string]bool
}

// landing is a call Bland applies late.
type landing struct {
	number, persona string
	attach          bool
	round           int
}

func (w *world) land(all bool) {
	keep := w.inflight[:0]
	for _, l := range w.inflight {
		switch {
		case !all && l.round >= w.rounds-1:
			keep = append(keep, l)
		case l.attach:
			w.bland[l.number] = l.persona
		case w.bland[l.number] == l.persona:
			delete(w.bland, l.number)
		}
	}
	w.inflight = keep
}

type worldBinding struct {
	obj     *v1alpha1.PersonaBinding
	keyLost bool
	gone    bool
}

var fixNumbers = []string{n1, n2, n3, n4}

func newWorld() *world {
	w := &world{now: epoch, bland: map[string]string{}, refused: map[string]bool{}, leftAttached: map[string]bool{}, outOfBand: map[string]bool{}}
	add := func(name, persona string, age int, nums ...string) {
		pb := spec{name: name, persona: persona, age: age, numbers: nums}.object()
		pb.Generation, pb.Status = 1, v1alpha1.PersonaBindingStatus{ObservedGeneration: -1}
		w.bindings = append(w.bindings, &worldBinding{obj: pb})
	}
	add("a", p1, 0, n1, n2)
	add("b", p1, 1, n2, n3)
	add("c", p2, 2, n3) // n4 starts unlisted, so an add then a drop leaves it to nobody
	return w
}

func (w *world) clone() *world {
	c := *w
	c.bland, c.refused = maps.Clone(w.bland), maps.Clone(w.refused)
	c.leftAttached, c.outOfBand = maps.Clone(w.leftAttached), maps.Clone(w.outOfBand)
	c.inflight = slices.Clone(w.inflight)
	c.bindings = nil
	for _, b := range w.bindings {
		cb := *b
		cb.obj = b.obj.DeepCopy()
		c.bindings = append(c.bindings, &cb)
	}
	return &c
}

// event is one change to the inputs.
type event struct {
	name  string
	apply func(w *world)
}

// editSpec changes a binding's spec, as an apply does (a new generation).
func editSpec(w *world, i int, change func(s *v1alpha1.PersonaBindingSpec)) {
	b := w.bindings[i]
	if b.gone || !b.obj.DeletionTimestamp.IsZero() {
		return
	}
	change(&b.obj.Spec)
	b.obj.Generation++
}

func fixpointEvents() []event {
	var out []event
	for i := range 3 {
		for _, n := range fixNumbers {
			out = append(out,
				event{fmt.Sprintf("add %s to %d", n, i), func(w *world) {
					editSpec(w, i, func(s *v1alpha1.PersonaBindingSpec) {
						if !slices.Contains(s.InboundNumbers, n) {
							s.InboundNumbers = append(slices.Clone(s.InboundNumbers), n)
							slices.Sort(s.InboundNumbers)
						}
					})
				}},
				event{fmt.Sprintf("drop %s from %d", n, i), func(w *world) {
					editSpec(w, i, func(s *v1alpha1.PersonaBindingSpec) {
						s.InboundNumbers = slices.DeleteFunc(slices.Clone(s.InboundNumbers), func(x string) bool { return x == n })
					})
				}})
			for j := range 3 {
				if j != i {
					out = append(out, event{fmt.Sprintf("move %s from %d to %d", n, i, j), func(w *world) {
						editSpec(w, i, func(s *v1alpha1.PersonaBindingSpec) {
							s.InboundNumbers = slices.DeleteFunc(slices.Clone(s.InboundNumbers), func(x string) bool { return x == n })
						})
						editSpec(w, j, func(s *v1alpha1.PersonaBindingSpec) {
							if !slices.Contains(s.InboundNumbers, n) {
								s.InboundNumbers = append(slices.Clone(s.InboundNumbers), n)
								slices.Sort(s.InboundNumbers)
							}
						})
					}})
				}
			}
		}
		out = append(out,
			event{fmt.Sprintf("delete %d", i), func(w *world) {
				if b := w.bindings[i]; !b.gone && b.obj.DeletionTimestamp.IsZero() {
					b.obj.DeletionTimestamp = &metav1.Time{Time: w.now}
				}
			}},
			event{fmt.Sprintf("suspend or resume %d", i), func(w *world) {
				editSpec(w, i, func(s *v1alpha1.PersonaBindingSpec) { s.Suspend = !s.Suspend })
			}},
			event{fmt.Sprintf("key of %d lost or restored", i), func(w *world) { w.bindings[i].keyLost = !w.bindings[i].keyLost }})
	}
	for _, n := range fixNumbers {
		for _, to := range []string{"", p1, p2} {
			out = append(out, event{fmt.Sprintf("drift %s to %q", n, to), func(w *world) {
				if to == "" {
					delete(w.bland, n)
				} else {
					w.bland[n] = to
					w.outOfBand[n] = true
				}
			}})
		}
		out = append(out, event{fmt.Sprintf("Bland refuses or accepts %s", n), func(w *world) { w.refused[n] = !w.refused[n] }})
	}
	for i := range 3 {
		for _, n := range fixNumbers {
			out = append(out, event{fmt.Sprintf("add %s to %d, unanswered", n, i), func(w *world) {
				w.unanswered = true
				editSpec(w, i, func(s *v1alpha1.PersonaBindingSpec) {
					if !slices.Contains(s.InboundNumbers, n) {
						s.InboundNumbers = append(slices.Clone(s.InboundNumbers), n)
						slices.Sort(s.InboundNumbers)
					}
				})
			}})
		}
	}
	return append(out, event{"the next call goes unanswered", func(w *world) { w.unanswered = true }})
}

// passResult is what one pass did.
type passResult struct {
	calls   int
	changed bool
}

// pass reconciles one persona the way the shell does, with a read first.
func (w *world) pass(t *testing.T, id string, history []string) passResult {
	w.now = w.now.Add(time.Second)
	var bs []Binding
	var rivals []PB
	var live []*worldBinding
	for _, wb := range w.bindings {
		switch {
		case wb.gone:
		case wb.obj.Spec.PersonaID != id:
			if wb.obj.DeletionTimestamp.IsZero() {
				rivals = append(rivals, wb.obj)
			}
		default:
			b := Binding{Object: wb.obj, KeyGroup: "k"}
			if wb.keyLost {
				b.Failure = &Failure{State: Stalled, Reason: v1alpha1.ReasonCredentialsNotFound, Message: "Secret missing", Blocks: true}
				b.KeyGroup = ""
			}
			if wb.obj.Status.ObservedGeneration == wb.obj.Generation {
				b.Refused = RefusedInStatus(wb.obj)
			}
			bs = append(bs, b)
			live = append(live, wb)
		}
	}
	slices.SortFunc(bs, func(a, b Binding) int { return byAge(a.Object, b.Object) })
	if len(bs) == 0 {
		return passResult{}
	}
	doubt := map[string]bool{}
	for i := range bs {
		InDoubt(bs[i].Object, w.now, doubt)
	}
	read := func() Observation {
		o := Observation{Numbers: map[string]*Settings{}, Fresh: true, Unsettled: maps.Clone(doubt)}
		for n, p := range w.bland {
			if p == id {
				o.Numbers[n] = nil
			}
		}
		return o
	}
	obs := read()
	owners, plan := Decide(bs, rivals, obs)
	for _, m := range plan.Detach {
		for i := range bs {
			if bs[i].live() && !bs[i].suspended() && owners.claims(&bs[i], m.Number) {
				t.Fatalf("%v: plan detaches %s, which live binding %s claims", history, m.Number, bs[i].Key())
			}
		}
	}
	byKey := map[string]*Binding{}
	for i := range bs {
		byKey[bs[i].Key()] = &bs[i]
	}
	latest := map[string]*v1alpha1.PersonaBinding{}
	wrote := map[string]bool{}
	for i := range bs {
		b := &bs[i]
		latest[b.Key()] = b.Object
		gains := Gains(plan, b)
		if len(gains) == 0 || b.KeyGroup == "" {
			continue
		}
		in, write := NextIntent(b.Object, gains, doubt, w.now.Add(8*time.Second), w.now.Add(12*time.Second))
		if write {
			next := b.Object.DeepCopy()
			if next.Annotations == nil {
				next.Annotations = map[string]string{}
			}
			next.Annotations[v1alpha1.IntentAnnotation] = in.String()
			latest[b.Key()], wrote[b.Key()] = next, true
		}
	}

	// The calls: detach, then attach; an unanswered one lands, and no call
	// after it is made.
	calls := 0
	lost := map[string]bool{}
	call := func(moves []Move, attach bool, do func(m Move)) {
		var made []Move
		for _, m := range moves {
			if byKey[m.Binding].KeyGroup != "" {
				made = append(made, m)
			}
		}
		if len(made) == 0 || len(lost) > 0 {
			return
		}
		calls++
		if w.unanswered {
			w.unanswered = false
			for _, m := range made {
				lost[m.Number] = true
				w.inflight = append(w.inflight, landing{number: m.Number, persona: id, attach: attach, round: w.rounds})
			}
			return
		}
		for _, m := range made {
			do(m)
		}
	}
	call(plan.Detach, false, func(m Move) {
		if w.bland[m.Number] == id {
			delete(w.bland, m.Number)
		}
	})
	call(plan.Attach, true, func(m Move) {
		if w.refused[m.Number] {
			b := byKey[m.Binding]
			if b.Refused == nil {
				b.Refused = map[string]Refusal{}
			}
			b.Refused[m.Number] = Refusal{Message: "not in the account", NotOwned: true}
			return
		}
		w.bland[m.Number] = id
	})
	after := read()
	if len(lost) > 0 {
		after = obs.Clone()
		maps.Copy(after.Unsettled, lost)
	}

	res := passResult{calls: calls}
	for i := range bs {
		b := &bs[i]
		cur := latest[b.Key()]
		var mine []string
		for _, m := range slices.Concat(plan.Detach, plan.Attach) {
			if m.Binding == b.Key() && lost[m.Number] {
				mine = append(mine, m.Number)
			}
		}
		o := Finish(b, cur, owners, plan, after, Answers{Wrote: wrote[b.Key()], Lost: mine, LandBy: w.now.Add(6 * time.Second)})
		wb := live[slices.IndexFunc(live, func(x *worldBinding) bool { return x.obj == b.Object })]
		if !b.live() && b.suspended() {
			// A suspended binding deleted lets its numbers go without a
			// call, on purpose, in whichever pass it releases them.
			for _, n := range plan.Releases[b.Key()] {
				w.leftAttached[n] = true
			}
		}
		if o.Release {
			if b.suspended() {
				for _, n := range Held(cur) {
					w.leftAttached[n] = true
				}
			}
			wb.gone, res.changed = true, true
			continue
		}
		if o.Intent != nil {
			cur = cur.DeepCopy()
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			cur.Annotations[v1alpha1.IntentAnnotation] = o.Intent.String()
		}
		record, st := o.Record, o.Status
		if !equality.Semantic.DeepEqual(cur.Status, st) || cur != b.Object {
			res.changed = true
		}
		next := cur.DeepCopy()
		next.Status = st
		wb.obj = next
		if ready := readyOf(st); ready == "True" && b.live() && !b.suspended() && len(lost) == 0 {
			for _, n := range b.Object.Spec.InboundNumbers {
				if owners.Conflicts[b.Key()][n] == "" && !refused(b, n) && w.bland[n] != id {
					t.Fatalf("%v: %s is Ready while %s, which it lists and may hold, is not attached", history, b.Key(), n)
				}
			}
			for _, n := range record {
				if !slices.Contains(b.Object.Spec.InboundNumbers, n) && w.bland[n] == id {
					t.Fatalf("%v: %s is Ready while %s, which it dropped, is still attached", history, b.Key(), n)
				}
			}
		}
	}
	return res
}

func readyOf(st v1alpha1.PersonaBindingStatus) string {
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return string(c.Status)
		}
	}
	return ""
}

// round runs one pass of each persona; calls that got no answer in an
// earlier round land after it.
func (w *world) round(t *testing.T, history []string) (quiet bool) {
	quiet = true
	for _, id := range []string{p1, p2} {
		if r := w.pass(t, id, history); r.calls > 0 || r.changed {
			quiet = false
		}
	}
	w.land(false)
	w.rounds++
	return quiet
}

// noneUnowned fails when a number is attached to a persona that no binding
// of it holds in its record (or intent), unless a deletion left it there on
// purpose or drift put it there: nobody would ever detach it.
func (w *world) noneUnowned(t *testing.T, history []string) {
	for n, p := range w.bland {
		if w.leftAttached[n] || w.outOfBand[n] {
			continue
		}
		held := slices.ContainsFunc(w.bindings, func(b *worldBinding) bool {
			return !b.gone && b.obj.Spec.PersonaID == p && slices.Contains(Held(b.obj), n)
		})
		if !held {
			t.Fatalf("%v: %s is attached to %s and no binding holds it", history, n, p)
		}
	}
}

// TestEveryShortHistoryReachesAFixpoint is the exhaustive check. The depth
// is 2 in make test; FIXPOINT_DEPTH=3 runs every history of three events.
func TestEveryShortHistoryReachesAFixpoint(t *testing.T) {
	depth := 2
	if v, err := strconv.Atoi(os.Getenv("FIXPOINT_DEPTH")); err == nil && v > 0 {
		depth = v
	}
	events := fixpointEvents()
	base := newWorld()
	for range 4 {
		base.round(t, []string{"start"})
	}
	if !base.round(t, []string{"start"}) {
		t.Fatal("the starting world does not settle")
	}
	started, histories, passes := time.Now(), 0, 0
	var walk func(w *world, history []string)
	walk = func(w *world, history []string) {
		histories++
		// Frozen: no more faults either; calls in flight land.
		frozen := w.clone()
		frozen.unanswered = false
		frozen.land(true)
		frozen.now = frozen.now.Add(time.Minute) // every deadline passes
		settled := false
		for range 3 {
			passes += 2
			if frozen.round(t, history) {
				settled = true
				break
			}
		}
		if !settled {
			t.Fatalf("%v: no fixpoint within 3 passes of frozen inputs", history)
		}
		frozen.noneUnowned(t, history)
		if len(history) == depth {
			return
		}
		for _, e := range events {
			next := w.clone()
			e.apply(next)
			h := append(slices.Clone(history), e.name)
			passes += 2
			next.round(t, h)
			walk(next, h)
		}
	}
	walk(base, nil)
	t.Logf("REPORT fixpoint: depth %d, %d events, %d histories, %d passes, %v", depth, len(events), histories, passes, time.Since(started).Round(time.Millisecond))
}
