package controller

import "sync"

// keyedLocks serializes passes that act on the same thing in Bland under
// different queue keys: an agent's two environments, and an agent with the
// PersonaBindings that name its routing persona. The work queue already
// runs one pass per key at a time; these locks cover what it cannot see.
// A pass takes at most an agent's lock and then one persona's, always in
// that order, so two passes never wait for each other in a cycle.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock takes the lock of key and returns its release.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()

	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
