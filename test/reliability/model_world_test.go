package reliability

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// modelBinding is the model's view of one binding at one generation.
type modelBinding struct {
	name       string
	agent      string // set for an AgentBinding of that agent; persona is then its routing persona
	order      int    // creation order: names sort in it, so it matches the operator's (creation time, name)
	generation int64
	persona    string
	numbers    []string
	settings   map[string]v1alpha1.PathwaySettings // numberSettings, by number
	exclusive  bool
	suspend    bool
	orphan     bool
	limited    bool // detachLimit 1: larger detaches wait for approval
	deleted    bool
}

// world is the model between two operations. An operation's write may take
// effect at any moment between start (the request went out) and at (the
// answer came back), so the world before it may be in force until at and
// this one from start: both are "possibly in force" in between.
type world struct {
	start, at time.Time
	bindings  []modelBinding
	// foreign are numbers the account does not own: no binding can hold them.
	foreign map[string]bool
}

func (w world) live() []modelBinding {
	return slices.DeleteFunc(slices.Clone(w.bindings), func(b modelBinding) bool { return b.deleted })
}

// with returns w where binding b is replaced (the spec one status describes).
func (w world) with(b modelBinding) world {
	w.bindings = slices.Clone(w.bindings)
	if b.order < len(w.bindings) {
		w.bindings[b.order] = b
	}
	return w
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

// oldestLister returns the oldest live binding that lists n.
func (w world) oldestLister(n string) (modelBinding, bool) {
	var oldest *modelBinding
	live := w.live()
	for i := range live {
		if slices.Contains(live[i].numbers, n) && (oldest == nil || live[i].order < oldest.order) {
			oldest = &live[i]
		}
	}
	if oldest == nil {
		return modelBinding{}, false
	}
	return *oldest, true
}

// holder is the owner function: the binding that holds n is the oldest live
// binding listing it, when that one can hold it (not suspended, not shut out
// of its persona, and n is the account's).
func (w world) holder(n string) (modelBinding, bool) {
	oldest, ok := w.oldestLister(n)
	if !ok || oldest.suspend || w.lostPersona(oldest) || w.foreign[n] {
		return modelBinding{}, false
	}
	return oldest, true
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
		if o.order < b.order && slices.ContainsFunc(b.numbers, func(n string) bool { return slices.Contains(o.numbers, n) }) {
			return true
		}
	}
	return false
}

// listsForeign says the binding lists a number the account does not own.
func (w world) listsForeign(b modelBinding) bool {
	return slices.ContainsFunc(b.numbers, func(n string) bool { return w.foreign[n] })
}

func (w world) listedAnywhere(n string) bool {
	return slices.ContainsFunc(w.live(), func(b modelBinding) bool { return slices.Contains(b.numbers, n) })
}

// possiblyInForce returns the worlds of history that may have been in force
// at some moment of [from, to].
func possiblyInForce(history []world, from, to time.Time) []world {
	var out []world
	for i, w := range history {
		if w.start.After(to) {
			break
		}
		if i+1 < len(history) && history[i+1].at.Before(from) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// toSettings converts a spec override to Bland's shape.
func toSettings(s v1alpha1.PathwaySettings) blandsim.Settings {
	return blandsim.Settings{PathwayID: s.PathwayID, PathwayVersion: s.PathwayVersion, StartNodeID: s.StartNodeID}
}

// sameSettings compares what Bland keeps for a number with the override wanted.
func sameSettings(got *blandsim.Settings, want v1alpha1.PathwaySettings) bool {
	w := toSettings(want)
	if got == nil {
		return w == blandsim.Settings{}
	}
	return got.PathwayID == w.PathwayID && got.StartNodeID == w.StartNodeID &&
		(got.PathwayVersion == nil) == (w.PathwayVersion == nil) &&
		(got.PathwayVersion == nil || *got.PathwayVersion == *w.PathwayVersion)
}

func describe(b modelBinding) string {
	s := fmt.Sprintf("%s persona=%s numbers=%v exclusive=%t suspend=%t orphan=%t limited=%t", b.name, b.persona, b.numbers, b.exclusive, b.suspend, b.orphan, b.limited)
	if b.agent != "" {
		s = "AgentBinding " + s + " agent=" + b.agent
	}
	for _, n := range slices.Sorted(maps.Keys(b.settings)) {
		v := b.settings[n]
		version := "latest"
		if v.PathwayVersion != nil {
			version = fmt.Sprint(*v.PathwayVersion)
		}
		s += fmt.Sprintf(" settings[%s]=%s@%s/%s", n, v.PathwayID, version, v.StartNodeID)
	}
	return s
}
