package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// personas serializes, within this process, everything that plans from or
// writes to one persona, and tracks who has seen its latest state.
//
// Two reconciles of bindings that share a persona never overlap, so neither
// plans from a read the other is about to make false. Each change a binding
// makes bumps the persona's version; a binding whose last look predates the
// current version must read the persona again before it plans, and is woken
// so that it does (it may be about to take over a number).
//
// Across replicas, leader election gives the same guarantee: only the leader
// reconciles.
type personas struct {
	mu      sync.Mutex
	entries map[string]*personaEntry
	seen    map[types.UID]uint64 // the persona version each binding last saw
}

type personaEntry struct {
	lock    sync.Mutex
	users   int    // reconciles holding or waiting for lock
	version uint64 // bumped by every change to the persona
}

// acquire blocks until the caller alone works on the persona, and returns the
// function that lets the next one in.
func (p *personas) acquire(personaID string) func() {
	p.mu.Lock()
	if p.entries == nil {
		p.entries = map[string]*personaEntry{}
		p.seen = map[types.UID]uint64{}
	}
	e := p.entries[personaID]
	if e == nil {
		e = &personaEntry{}
		p.entries[personaID] = e
	}
	e.users++
	p.mu.Unlock()

	e.lock.Lock()
	return func() {
		e.lock.Unlock()
		p.mu.Lock()
		e.users--
		if e.users == 0 && e.version == 0 {
			delete(p.entries, personaID) // nothing to remember
		}
		p.mu.Unlock()
	}
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
