package controller

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

const (
	// credentialsRetry is how often a binding whose Secret is missing looks
	// again: creating the Secret is the usual fix, and no watch tells us.
	credentialsRetry = time.Minute
)

// memory is what the reconciler keeps between reconciles, in this process
// only. It is a cache that says when to look again and which cached
// bindings may lack our last write; nothing in it decides an outcome. What
// the operator is unsure of (a call whose answer never came) lives on the
// binding, in its intent, never here. Every entry goes when its persona or
// binding does.
type memory struct {
	mu       sync.Mutex
	personas map[string]*personaMemory
	// lastWrite is, by binding, the resourceVersion of this process's last
	// write, until the cache shows it.
	lastWrite map[types.UID]string
	// lastKey is, by binding, the API key last read for it: a candidate,
	// tried before it is used, when a deleted binding's namespace goes with
	// its Secret.
	lastKey map[types.UID]string
}

type personaMemory struct {
	resyncAt time.Time
	// refusedReads counts the reads in a row that no key could make: each
	// one doubles the wait before the next look, up to the resync interval.
	refusedReads int
	// unreadableKeys counts the passes in a row that could not read a
	// binding's Secret for a reason other than its absence.
	unreadableKeys int
	// keysChanged: an account or a namespace label of one of its bindings
	// changed, so the next pass reads the keys even if nothing else is due.
	keysChanged bool
}

func (m *memory) persona(id string) *personaMemory {
	if m.personas == nil {
		m.personas = map[string]*personaMemory{}
	}
	pm := m.personas[id]
	if pm == nil {
		pm = &personaMemory{}
		m.personas[id] = pm
	}
	return pm
}

// resyncDue reports whether the persona's resync has come. A persona seen
// for the first time (after a restart) is due one to two intervals from now,
// so a restart costs no burst of reads.
func (m *memory) resyncDue(id string, interval time.Duration, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id)
	if pm.resyncAt.IsZero() {
		pm.resyncAt = now.Add(interval + rand.N(interval+1))
	}
	return !now.Before(pm.resyncAt)
}

// looked records a read of the persona that a key could make (it may still
// have failed for another reason, which the queue's backoff retries): the
// next resync is one interval (jittered) away.
func (m *memory) looked(id string, interval time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id)
	pm.resyncAt, pm.refusedReads = now.Add(jittered(interval)), 0
}

// refused records a read that every key was refused for. The resync stays
// due, one backoff step away (1 s, doubling, at most the interval): the
// bindings' keys are read again then, and a key put right is seen within
// one interval, with no reads in between.
func (m *memory) refused(id string, interval time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id)
	wait := min(time.Second<<min(pm.refusedReads, 20), interval)
	pm.resyncAt = now.Add(wait)
	pm.refusedReads++
}

// keysUnreadable records whether this pass failed to read a key for a
// reason other than its absence, and returns how many passes in a row did.
func (m *memory) keysUnreadable(id string, failed bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id)
	if !failed {
		pm.unreadableKeys = 0
		return 0
	}
	pm.unreadableKeys++
	return pm.unreadableKeys
}

// keysMayHaveChanged marks the persona for a key read in its next pass.
func (m *memory) keysMayHaveChanged(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.persona(id).keysChanged = true
}

// takeKeysChanged reports and clears the mark.
func (m *memory) takeKeysChanged(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id)
	changed := pm.keysChanged
	pm.keysChanged = false
	return changed
}

// resyncIn says how long until the persona's next resync.
func (m *memory) resyncIn(id string, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.persona(id).resyncAt.Sub(now)
}

// forget drops a persona no binding names any more.
func (m *memory) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.personas, id)
}

// wrote records our write to a binding, and stale reports whether a cached
// copy may lack it (once the cache shows it, the entry goes).
func (m *memory) wrote(pb *v1alpha1.PersonaBinding) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastWrite == nil {
		m.lastWrite = map[types.UID]string{}
	}
	m.lastWrite[pb.UID] = pb.ResourceVersion
}

func (m *memory) stale(cached *v1alpha1.PersonaBinding) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	rv, ok := m.lastWrite[cached.UID]
	if ok && rv == cached.ResourceVersion {
		delete(m.lastWrite, cached.UID)
		return false
	}
	return ok
}

// readLive records a live read of a binding the cache lagged behind: the
// version read is now the one to wait for, so a pass that comes before the
// cache shows it reads live again instead of planning from the lagging copy
// (forgetting the entry here let that next pass plan from before our write).
func (m *memory) readLive(pb *v1alpha1.PersonaBinding) {
	m.wrote(pb)
}

func (m *memory) rememberKey(uid types.UID, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastKey == nil {
		m.lastKey = map[types.UID]string{}
	}
	m.lastKey[uid] = key
}

func (m *memory) keyOf(uid types.UID) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.lastKey[uid]
	return k, ok
}

// forgetBinding drops what is remembered about a binding that is gone.
func (m *memory) forgetBinding(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.lastWrite, uid)
	delete(m.lastKey, uid)
}

// jittered spreads d by up to 10% either way, so that personas created
// together drift apart while the average interval stays d.
func jittered(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

func resyncInterval(pb *v1alpha1.PersonaBinding) time.Duration {
	if r := pb.Spec.ResyncInterval; r != nil && r.Duration > 0 {
		return r.Duration
	}
	return v1alpha1.DefaultResyncInterval
}
