package controller

import (
	"context"

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
	if p.obs.Fresh {
		return true // a teardown's check of its key already read it
	}
	tried := map[string]bool{}
	for i := range p.bindings {
		b := &p.bindings[i]
		if b.KeyGroup == "" || b.Blocked() || tried[b.KeyGroup] {
			continue
		}
		tried[b.KeyGroup] = true
		got, err := r.Bland.GetPersona(ctx, p.keys[b.Key()], p.id)
		if err == nil {
			r.memory.looked(p.id, p.interval(), p.now)
			p.answered(got, b.KeyGroup)
			return true
		}
		f := classify(err, credentialsSource(b.Object))
		if !f.Blocks {
			r.memory.looked(p.id, p.interval(), p.now)
			p.failAll(f, err)
			return false
		}
		for j := range p.bindings {
			if p.bindings[j].KeyGroup == b.KeyGroup {
				p.bindings[j].Failure = f
			}
		}
	}
	if len(tried) > 0 {
		r.memory.refused(p.id, p.interval(), p.now)
	}
	return false
}

// answered makes a persona returned by a call made with the key of group
// the new observation (the numbers an unanswered call may still change stay
// unsettled). The answer also proves the key works now: a refusal of that
// key carried from the status of the bindings using it (Unauthorized, or a
// persona it could not see) is cleared, the backoff of refused reads ends,
// and the next resync is one interval away.
func (p *pass) answered(got *bland.Persona, group string) {
	p.obs = persona.Observation{Name: got.Name, Numbers: persona.NumbersOf(got), Fresh: true, Unsettled: p.obs.Unsettled}
	cleared := false
	for i := range p.bindings {
		b := &p.bindings[i]
		if f := b.Failure; b.KeyGroup == group && f != nil && f.Blocks && persona.Reason(f.Reason).Carried {
			b.Failure, cleared = nil, true
		}
	}
	if cleared {
		p.r.memory.looked(p.id, p.interval(), p.now)
	}
}

// failAll records a failure that concerns the whole persona (a read that
// failed for a reason other than the key) on every binding.
func (p *pass) failAll(f *persona.Failure, err error) {
	for i := range p.bindings {
		if p.bindings[i].Failure == nil {
			p.bindings[i].Failure = f
		}
	}
	p.failed(f, err)
}

// halted says a failure in this pass stops its calls: the queue retries.
func (p *pass) halted() bool { return p.retry != nil || p.retryAfter > 0 }

// failed notes how the pass must be retried after a failure.
func (p *pass) failed(f *persona.Failure, err error) {
	switch {
	case f.RetryAfter > 0 && f.State == persona.Progressing:
		p.retryAfter = max(p.retryAfter, f.RetryAfter)
	case f.State == persona.Progressing && p.retry == nil:
		p.retry = err
	}
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
