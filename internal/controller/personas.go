package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// personas serializes, within this process, everything that plans from or
// writes to one persona, and tracks who has seen its latest state.
//
// Two reconciles of bindings that share a persona never overlap, so neither
// plans from a read the other is about to make false. A reconcile that finds
// its persona busy does not block a worker: it is parked and requeued when
// the persona is free. Each change a binding makes bumps the persona's
// version; a binding whose last look predates the current version reads the
// persona again before it plans, when that can matter to it.
//
// Across replicas, leader election gives the same guarantee: only the leader
// reconciles.
type personas struct {
	mu      sync.Mutex
	entries map[string]*personaEntry
	seen    map[types.UID]uint64 // the persona version each binding last saw
}

type personaEntry struct {
	busy    bool
	waiting map[types.NamespacedName]bool // parked until the persona is free
	version uint64                        // bumped by every change to the persona
}

// tryAcquire gives the caller the persona alone, or parks key and returns
// false. release frees the persona and returns the parked keys, which the
// caller requeues.
func (p *personas) tryAcquire(personaID string, key types.NamespacedName) (release func() []types.NamespacedName, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries == nil {
		p.entries = map[string]*personaEntry{}
		p.seen = map[types.UID]uint64{}
	}
	e := p.entries[personaID]
	if e == nil {
		e = &personaEntry{}
		p.entries[personaID] = e
	}
	if e.busy {
		if e.waiting == nil {
			e.waiting = map[types.NamespacedName]bool{}
		}
		e.waiting[key] = true
		return nil, false
	}
	e.busy = true
	return func() []types.NamespacedName {
		p.mu.Lock()
		defer p.mu.Unlock()
		e.busy = false
		parked := make([]types.NamespacedName, 0, len(e.waiting))
		for k := range e.waiting {
			parked = append(parked, k)
		}
		e.waiting = nil
		if e.version == 0 {
			delete(p.entries, personaID) // nothing to remember
		}
		return parked
	}, true
}

// changedSince reports whether another binding changed the persona since uid
// last saw it. A binding this process has not seen yet has seen version 0.
func (p *personas) changedSince(personaID string, uid types.UID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.entries[personaID]
	return e != nil && e.version != p.seen[uid]
}

// saw records that uid has seen the persona's current state.
func (p *personas) saw(personaID string, uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entries[personaID]; e != nil && p.seen != nil {
		p.seen[uid] = e.version
	}
}

// changed records that uid changed the persona (and saw the result).
func (p *personas) changed(personaID string, uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entries[personaID]; e != nil {
		e.version++
		p.seen[uid] = e.version
	}
}

// forget drops what is remembered about a binding that is gone.
func (p *personas) forget(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.seen, uid)
}
