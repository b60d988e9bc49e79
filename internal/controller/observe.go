package controller

import (
	"context"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// observe reads the persona once, with the key of the oldest binding that
// has one; a key Bland refuses (or that may not see the persona) blocks the
// bindings that use it, and the next key is tried. It reports whether a read
// succeeded; a transient failure stops the pass. A read every key tried was
// refused for keeps the resync due one backoff step away, so the keys are
// read again then, and never sooner; a pass that tried no key (each was
// refused at an earlier read, carried in the status) leaves the resync
// where it was, so that passes woken by other bindings never put it off.
func (r *PersonaReconciler) observe(ctx context.Context, p *pass) bool {
	if p.heard.Obs.Fresh {
		return true // a teardown's check of its key already read it
	}
	tried := map[string]bool{}
	for i := range p.bindings {
		b := &p.bindings[i]
		if b.KeyGroup == "" || b.Blocked() || tried[b.KeyGroup] {
			continue
		}
		tried[b.KeyGroup] = true
		got, err := r.read(ctx, p.keys[b.Key()], p.id)
		read := persona.Answer{Kind: persona.Read, Group: b.KeyGroup}
		if err == nil {
			r.memory.looked(p.id, p.interval(), p.now)
			read.Seen = seen(got)
			p.heed(read, nil)
			return true
		}
		// The key's refusal blocks the bindings using it; any other failure
		// concerns them all. Both are told in the words of b's credentials.
		f := classify(err, credentialsSource(b.Object))
		read.Err, read.Failures = err, map[string]*persona.Failure{}
		for j := range p.bindings {
			if other := &p.bindings[j]; other.KeyGroup == b.KeyGroup || !f.Blocks {
				read.Failures[other.Key()] = f
			}
		}
		p.heard.Heed(p.bindings, read)
		if !f.Blocks {
			r.memory.looked(p.id, p.interval(), p.now)
			return false
		}
	}
	if len(tried) > 0 {
		r.memory.refused(p.id, p.interval(), p.now)
	}
	return false
}

// heed folds the answer to one call into the pass (persona.Heard.Heed):
// when the call failed, err says how, for each binding it was made for. An
// answer that proves a key whose refusal was carried from the status ends
// the backoff of refused reads: the next resync is one interval away.
func (p *pass) heed(a persona.Answer, err error) {
	if err != nil {
		a.Seen, a.Err, a.Failures = nil, err, map[string]*persona.Failure{}
		if unanswered(err) {
			a.Unanswered, a.At = true, p.r.now()
		}
		for key := range byBinding(a.Moves) {
			f := classify(err, "")
			if f.Reason == v1alpha1.ReasonUnauthorized {
				f = classify(err, credentialsSource(p.binding(key).Object))
			}
			a.Failures[key] = f
		}
	}
	if p.heard.Heed(p.bindings, a) {
		p.r.memory.looked(p.id, p.interval(), p.now)
	}
}

// seen is the persona as an answer showed it.
func seen(got *bland.Persona) *persona.Observation {
	return &persona.Observation{Name: got.Name, Numbers: persona.NumbersOf(got)}
}

func toBland(s *persona.Settings) *bland.Settings {
	if s == nil {
		return nil
	}
	out := &bland.Settings{PathwayID: s.PathwayID, StartNodeID: s.StartNodeID}
	if s.PathwayVersion != nil {
		v := *s.PathwayVersion
		out.PathwayVersion = &v
	}
	return out
}
