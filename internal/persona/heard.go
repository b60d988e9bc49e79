package persona

import (
	"maps"
	"time"
)

// CallKind names what a call to Bland was for.
type CallKind int

// The calls a pass makes.
const (
	// Read gets the persona.
	Read CallKind = iota
	// Attach adds numbers to it.
	Attach
	// Detach removes numbers from it.
	Detach
	// UpdateSettings sets or clears one number's overrides.
	UpdateSettings
)

// Answer is what one call of a pass was told. The shell makes the call and
// describes its answer; Heard.Heed alone decides what the answer means for
// the observation and the bindings.
type Answer struct {
	Kind CallKind
	// Group is the key group the call was made with.
	Group string
	// Moves are the numbers of an attach, a detach or a settings call, by
	// binding.
	Moves []Move
	// Seen is the persona as a successful read, attach or detach showed it.
	Seen *Observation
	// Settings are the overrides a successful settings call left, by number.
	Settings map[string]*Settings
	// Failures are, by binding, what a failed call means for it (the
	// message names that binding's credentials); nil when the call succeeded.
	Failures map[string]*Failure
	// Err is the failed call's error, for the queue's retry.
	Err error
	// Unanswered: no answer came, so Bland may still apply the call. At is
	// when it was given up.
	Unanswered bool
	At         time.Time
	// Refused are the numbers Bland refused to attach, with its words.
	Refused map[string]Refusal
}

// Heard is what a pass has learned from Bland, the answers folded in the
// order they came. It starts from the observation rebuilt from the records.
type Heard struct {
	Obs Observation
	// Lost are, by binding, the numbers of attaches and detaches whose
	// answer never came; the last of them was given up at GaveUp.
	Lost   map[string][]string
	GaveUp time.Time
	// Retry is the first transient failure (the queue backs off), and
	// RetryAfter the longest wait Bland asked for.
	Retry      error
	RetryAfter time.Duration
}

// Halted says a failure stops the pass's calls: the queue retries.
func (h *Heard) Halted() bool { return h.Retry != nil || h.RetryAfter > 0 }

// Failed notes how the pass must be retried after a failure.
func (h *Heard) Failed(f *Failure, err error) {
	switch {
	case f.RetryAfter > 0 && f.State == Progressing:
		h.RetryAfter = max(h.RetryAfter, f.RetryAfter)
	case f.State == Progressing && h.Retry == nil:
		h.Retry = err
	}
}

// Heed folds one answer into what the pass knows, and into its bindings'
// failures and refusals. It reports whether the answer proved a key whose
// refusal was carried from an earlier pass (the refused-read backoff ends).
//
//   - A successful call makes its persona the observation (numbers an
//     unanswered call may still change stay unsettled), and clears the
//     carried refusals of the bindings using its key.
//   - A read refused for its key blocks the bindings using that key; a read
//     that failed otherwise concerns every binding that has no failure yet.
//   - A failed write is recorded on the bindings it was made for; when no
//     answer came, its numbers stay unsettled and an attach's or detach's
//     are lost until they may no longer land.
func (h *Heard) Heed(bindings []Binding, a Answer) (proven bool) {
	if len(a.Refused) > 0 {
		refuse(bindings, a)
		return false // Bland said no to numbers: nothing changed
	}
	if len(a.Failures) == 0 {
		if a.Seen != nil {
			named := maps.Clone(h.Obs.NamedFor)
			if named == nil {
				named = map[string]bool{}
			}
			named[a.Group] = true
			h.Obs = Observation{Name: a.Seen.Name, NamedFor: named, Numbers: a.Seen.Numbers, Fresh: true, Unsettled: h.Obs.Unsettled}
		}
		for n, s := range a.Settings {
			h.Obs.Numbers[n] = s
		}
		return clearCarried(bindings, a.Group, a.Kind)
	}
	var last *Failure
	for i := range bindings {
		b := &bindings[i]
		f, ok := a.Failures[b.Key()]
		if !ok {
			continue
		}
		last = f
		if a.Kind != Read || f.Blocks || b.Failure == nil {
			b.Failure = f
		}
	}
	if last == nil || (a.Kind == Read && last.Blocks) {
		return false // a refused key: the next key is tried
	}
	if a.Unanswered {
		h.unanswered(a)
	}
	h.Failed(last, a.Err)
	return false
}

// clearCarried ends the refusals carried from the status of the bindings
// using group: the answer proves the key works now (and, for a write, that
// the target takes numbers).
func clearCarried(bindings []Binding, group string, kind CallKind) bool {
	cleared := false
	for i := range bindings {
		b := &bindings[i]
		f := b.Failure
		if f != nil && kind == Read && Reason(f.Reason).WriteClears {
			continue
		}
		if b.KeyGroup == group && f != nil && f.Blocks && Reason(f.Reason).Carried {
			b.Failure, cleared = nil, true
		}
	}
	return cleared
}

func (h *Heard) unanswered(a Answer) {
	h.GaveUp = a.At
	if h.Obs.Unsettled == nil {
		h.Obs.Unsettled = map[string]bool{}
	}
	for _, m := range a.Moves {
		h.Obs.Unsettled[m.Number] = true
	}
	if a.Kind != Attach && a.Kind != Detach {
		return
	}
	if h.Lost == nil {
		h.Lost = map[string][]string{}
	}
	for _, m := range a.Moves {
		h.Lost[m.Binding] = append(h.Lost[m.Binding], m.Number)
	}
}

// refuse sets aside, on the bindings they were asked for, the numbers
// Bland refused to attach, with its words.
func refuse(bindings []Binding, a Answer) {
	for _, m := range a.Moves {
		why, ok := a.Refused[m.Number]
		if !ok {
			continue
		}
		for i := range bindings {
			if b := &bindings[i]; b.Key() == m.Binding {
				if b.Refused == nil {
					b.Refused = map[string]Refusal{}
				}
				b.Refused[m.Number] = why
			}
		}
	}
}
