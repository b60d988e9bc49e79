package persona

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Move is one number a call changes, and the binding it is made for (whose
// key the call uses and whose events and status report it).
type Move struct{ Number, Binding string }

// SettingsChange sets one number's overrides; nil Settings clears them.
type SettingsChange struct {
	Number, Binding string
	Settings        *Settings
}

// Handover moves a number from one binding's record to another's, without
// a call: it stays attached, with its settings.
type Handover struct {
	Number, From, To string
	// Applied are the overrides the giver set on the number; they move with it.
	Applied *Settings
}

// Drift is what a fresh look found changed behind the operator's back.
type Drift struct{ Attach, Settings, Detach []string }

// Empty reports whether nothing drifted.
func (d Drift) Empty() bool { return len(d.Attach)+len(d.Settings)+len(d.Detach) == 0 }

// Plan is what to do to the persona: one detach, one attach (the controller
// groups each by API key and splits past the batch size), then the settings.
type Plan struct {
	Detach    []Move
	Attach    []Move
	Settings  []SettingsChange
	Handovers []Handover
	// Claims are the numbers each binding is about to hold (attaches,
	// handovers, adoptions). They go into its record with the outcome; the
	// attaches among them are named in its intent before any call.
	Claims map[string][]string
	// Releases are the numbers a binding lets go of without a call: a
	// conflict, an orphaning deletion, or a number that is not attached.
	Releases map[string][]string
	// PendingDetach are detaches a binding's detach limit holds back, and
	// Limits the limits they exceed.
	PendingDetach map[string][]string
	Limits        map[string]int
	// Drift is what a fresh read found, by binding.
	Drift map[string]Drift
	// Sweeps are the unlisted numbers each exclusive binding detaches.
	Sweeps map[string][]string
	// Kept are the numbers a binding keeps in its record, though its spec
	// no longer asks for them, for the binding of this persona that claims
	// them and cannot take them yet (number -> that binding).
	Kept map[string]map[string]string
	// NeedsRead: this plan may only be made from a fresh read (a handover,
	// an exclusive sweep, a suspended binding's report).
	NeedsRead bool
}

// Writes reports whether the plan calls Bland.
func (p Plan) Writes() bool { return len(p.Detach)+len(p.Attach)+len(p.Settings) > 0 }

// Decide is the persona's plan: from its bindings, the rivals listing their
// numbers elsewhere, and the observation. It never detaches a number a live,
// unsuspended binding of the persona claims (exclusive sweeps and drops alike),
// never touches a number a call without an answer may still change, and
// makes no call for a number that only changes owner.
func Decide(bindings []Binding, rivals []PB, obs Observation) (Owners, Plan) {
	owners := OwnersOf(bindings, rivals)
	p := Plan{Claims: map[string][]string{}, Releases: map[string][]string{}, PendingDetach: map[string][]string{},
		Limits: map[string]int{}, Drift: map[string]Drift{}, Sweeps: map[string][]string{},
		Kept: map[string]map[string]string{}}
	byKey := map[string]*Binding{}
	recordOf := map[string]string{} // number -> the binding whose record holds it
	for i := range bindings {
		b := &bindings[i]
		byKey[b.Key()] = b
		for _, n := range Held(b.Object) {
			recordOf[n] = b.Key()
		}
	}
	listed, heldElsewhere := sets.New[string](), sets.New[string]()
	for i := range bindings {
		if bindings[i].live() {
			listed.Insert(bindings[i].Object.Spec.InboundNumbers...)
		}
	}
	for _, r := range rivals {
		if r.DeletionTimestamp.IsZero() {
			listed.Insert(r.Spec.InboundNumbers...)
		}
		heldElsewhere.Insert(Held(r)...)
	}

	// wanted are the numbers a live, unsuspended binding of this persona
	// claims (the oldest binding anywhere that lists them), each with that
	// binding: none is detached, even when that binding cannot hold it now
	// (its key or account is refused); the record holding it keeps it until
	// the binding can take it. A number whose claimant is elsewhere goes to
	// that persona, and one only a suspended binding lists goes as its
	// holder drops it (a suspended binding asked for nothing to change for it).
	wanted := map[string]string{}
	for i := range bindings {
		b := &bindings[i]
		if !b.live() || b.suspended() {
			continue
		}
		for _, n := range b.Object.Spec.InboundNumbers {
			if owners.claims(b, n) {
				wanted[n] = b.Key()
			}
		}
	}
	detaches := map[string][]string{} // binding -> numbers, before the limit
	for i := range bindings {
		b := &bindings[i]
		for _, n := range Held(b.Object) {
			p.record(b, n, owners, obs, wanted, heldElsewhere, detaches)
		}
	}
	for _, n := range sets.List(sets.KeySet(owners.Holder)) {
		h := owners.Holder[n]
		switch {
		case obs.Unsettled[n]:
		case !obs.Has(n):
			p.Attach = append(p.Attach, Move{n, h})
			p.Claims[h] = append(p.Claims[h], n)
		case recordOf[n] == "" && obs.Fresh:
			p.Claims[h] = append(p.Claims[h], n) // attached, held by nobody: adopt
		}
	}
	for i := range bindings {
		p.sweep(&bindings[i], owners, obs, listed, recordOf, detaches)
	}
	p.limit(byKey, detaches)
	p.settings(byKey, owners, obs)
	for i := range bindings {
		p.report(&bindings[i], owners, obs)
	}
	p.NeedsRead = !obs.Fresh && (len(p.Handovers) > 0 || p.NeedsRead)
	for k := range p.Claims {
		slices.Sort(p.Claims[k])
	}
	return owners, p
}

// record decides what happens to one number in b's record. A number
// attached here stays in some record until it is detached, handed over or
// seen gone: a number no record holds is one nobody would ever detach.
func (p *Plan) record(b *Binding, n string, owners Owners, obs Observation, wanted map[string]string, heldElsewhere sets.Set[string], detaches map[string][]string) {
	key, holder := b.Key(), owners.Holder[n]
	switch {
	case holder == key, obs.Unsettled[n]:
	case holder != "":
		p.Handovers = append(p.Handovers, Handover{Number: n, From: key, To: holder, Applied: AppliedSettings(&b.Object.Status)[n]})
		p.Claims[holder] = append(p.Claims[holder], n)
		p.Releases[key] = append(p.Releases[key], n)
	case b.live() && slices.Contains(b.Object.Spec.InboundNumbers, n):
		// An older binding claims it. Attaching it on its own persona moves
		// it there; until a read shows it gone from here, b keeps it, so
		// that a claimant that never takes it leaves no number behind.
		switch {
		case owners.claims(b, n):
		case obs.Fresh && !obs.Has(n):
			p.Releases[key] = append(p.Releases[key], n)
		case !obs.Fresh && heldElsewhere.Has(n):
			p.NeedsRead = true // the claimant took it (or is taking it)
		}
	case b.suspended() && b.live():
	case !b.live() && (b.orphan() || b.suspended() || b.LetGo):
		p.Releases[key] = append(p.Releases[key], n)
	case b.Blocked():
	case obs.Fresh && !obs.Has(n):
		p.Releases[key] = append(p.Releases[key], n)
	case HandedAcrossKinds(b, owners.Claimant[n], n):
		// A live binding of the other kind claims it: its attach replaces
		// this assignment (Bland's agent attach says so, and a persona
		// attach moves the number), so nothing is detached in between. b
		// keeps it until a read shows it gone.
		if !obs.Fresh && heldElsewhere.Has(n) {
			p.NeedsRead = true
		}
	case wanted[n] != "":
		if p.Kept[key] == nil {
			p.Kept[key] = map[string]string{}
		}
		p.Kept[key][n] = wanted[n]
	default:
		detaches[key] = append(detaches[key], n)
	}
}

// sweep detaches, for an exclusive binding that holds its persona, every
// attached number no live binding lists or holds. It sweeps only what a
// fresh read shows, and asks for one only for a generation its status has
// not reported yet (it became exclusive, or its spec changed): once a pass
// swept at this generation, what a read would find is drift, which resyncs
// look for. So a rival's writes, which wake the persona, cost no read.
func (p *Plan) sweep(e *Binding, owners Owners, obs Observation, listed sets.Set[string], recordOf map[string]string, detaches map[string][]string) {
	if !e.live() || !e.Object.Spec.Exclusive || owners.Lost[e.Key()] || e.suspended() || e.Blocked() {
		return
	}
	if !obs.Fresh {
		if e.Object.Status.ObservedGeneration != e.Object.Generation {
			p.NeedsRead = true
		}
		return
	}
	for _, n := range sets.List(sets.KeySet(obs.Numbers)) {
		kept := recordOf[n] != "" && !slices.Contains(p.Releases[recordOf[n]], n)
		if !listed.Has(n) && owners.Holder[n] == "" && !kept && !obs.Unsettled[n] {
			detaches[e.Key()] = append(detaches[e.Key()], n)
			p.Sweeps[e.Key()] = append(p.Sweeps[e.Key()], n)
			if e.Object.Status.ObservedGeneration == e.Object.Generation {
				d := p.Drift[e.Key()]
				d.Detach = append(d.Detach, n)
				p.Drift[e.Key()] = d
			}
		}
	}
}

// limit holds back the detaches of a live binding past its detach limit,
// unless a person approved exactly these numbers for this generation.
// Deletion is not limited.
func (p *Plan) limit(byKey map[string]*Binding, detaches map[string][]string) {
	for _, key := range sets.List(sets.KeySet(detaches)) {
		b, nums := byKey[key], detaches[key]
		slices.Sort(nums)
		if b.live() && b.DetachLimit > 0 && len(nums) > b.DetachLimit && !b.approves(nums) {
			p.PendingDetach[key], p.Limits[key] = nums, b.DetachLimit
			continue
		}
		for _, n := range nums {
			p.Detach = append(p.Detach, Move{n, key})
		}
	}
	slices.SortFunc(p.Detach, func(a, b Move) int { return cmp.Compare(a.Number, b.Number) })
}

// settings brings every held number's overrides in line with its holder's
// spec: set what the spec asks for, clear what the operator set and the
// spec no longer asks for, leave alone what it never set. The overrides a
// number carried move with it in a handover.
func (p *Plan) settings(byKey map[string]*Binding, owners Owners, obs Observation) {
	appliedBy := map[string]*Settings{}
	for _, b := range byKey {
		for n, s := range AppliedSettings(&b.Object.Status) {
			appliedBy[n] = s
		}
	}
	for _, n := range sets.List(sets.KeySet(owners.Holder)) {
		if obs.Unsettled[n] {
			continue
		}
		h := byKey[owners.Holder[n]]
		current, attached := obs.Numbers[n]
		if !attached {
			current = nil // a fresh attach starts without overrides
		}
		want := WantedSettings(&h.Object.Spec)[n]
		switch {
		case !isEmpty(want):
			if !equal(want, current) {
				p.Settings = append(p.Settings, SettingsChange{Number: n, Binding: h.Key(), Settings: want})
			}
		case attached && !isEmpty(appliedBy[n]) && !isEmpty(current):
			p.Settings = append(p.Settings, SettingsChange{Number: n, Binding: h.Key()})
		}
	}
}

// report fills in, for one binding, what a suspended binding would do and
// what drifted since its record was written.
func (p *Plan) report(b *Binding, owners Owners, obs Observation) {
	if !b.live() {
		return
	}
	if b.suspended() {
		// A suspended binding whose status already reports this generation
		// in sync is planned from the records (FromRecords counts what its
		// status last saw attached): a restart costs no read.
		if !obs.Fresh && (b.Object.Status.ObservedGeneration != b.Object.Generation || !inSyncWhileSuspended(b.Object)) {
			p.NeedsRead = true
		}
		return
	}
	if !obs.Fresh || b.Object.Status.ObservedGeneration != b.Object.Generation {
		return // after a spec change, a difference is the change itself
	}
	d := p.Drift[b.Key()]
	applied, want := AppliedSettings(&b.Object.Status), WantedSettings(&b.Object.Spec)
	for _, n := range b.Object.Status.BoundNumbers {
		if owners.Holder[n] != b.Key() || obs.Unsettled[n] {
			continue
		}
		current, attached := obs.Numbers[n]
		switch {
		case !attached:
			d.Attach = append(d.Attach, n)
		case !isEmpty(want[n]) && !isEmpty(applied[n]) && !equal(want[n], current):
			d.Settings = append(d.Settings, n)
		}
	}
	if !d.Empty() {
		p.Drift[b.Key()] = d
	}
}

// inSyncWhileSuspended says the binding's status reports it suspended with
// nothing waiting.
func inSyncWhileSuspended(pb PB) bool {
	c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Reason == v1alpha1.ReasonSuspended && c.Status == "True"
}

// Unread is what of the plan may be applied when the read it needed could
// not be made: deleted bindings that leave their numbers attached (Orphan,
// suspended, or let go in a teardown) release them. That needs no call and
// nothing from Bland, and the binding is going: without it, a persona no
// key can read would hold such a binding for as long as its key is gone.
// Nothing else is applied: no handover, claim, call or other release.
func (p Plan) Unread(bindings []Binding) Plan {
	out := Plan{}
	for i := range bindings {
		b := &bindings[i]
		leaves := b.orphan() || b.suspended() || b.LetGo
		if b.live() || !leaves || len(p.Releases[b.Key()]) == 0 {
			continue
		}
		if out.Releases == nil {
			out.Releases = map[string][]string{}
		}
		out.Releases[b.Key()] = p.Releases[b.Key()]
	}
	return out
}

// wouldDo is what a suspended binding would do if resumed, against obs:
// attach the numbers it claims that are not attached, detach the ones its
// record holds that it dropped and that are, and set the overrides that
// differ. The status computes it from the observation and the record after
// the pass's calls, so a sibling's detach in the same pass shows at once in
// what it would attach, and a number it handed over in the same pass is not
// one it would detach.
func wouldDo(b *Binding, owners Owners, obs Observation, record []string) Plan {
	var would Plan
	for _, n := range b.Object.Spec.InboundNumbers {
		if owners.claims(b, n) && !owners.Lost[b.Key()] && !obs.Has(n) && !refused(b, n) {
			would.Attach = append(would.Attach, Move{n, b.Key()})
		}
	}
	for _, n := range record {
		if !slices.Contains(b.Object.Spec.InboundNumbers, n) && obs.Has(n) {
			would.Detach = append(would.Detach, Move{n, b.Key()})
		}
	}
	want := WantedSettings(&b.Object.Spec)
	for _, n := range b.Object.Spec.InboundNumbers {
		if owners.claims(b, n) && obs.Has(n) && !isEmpty(want[n]) && !equal(want[n], obs.Numbers[n]) {
			would.Settings = append(would.Settings, SettingsChange{Number: n, Binding: b.Key(), Settings: want[n]})
		}
	}
	return would
}
