package controller

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

const (
	defaultResyncInterval = 10 * time.Minute
	// credentialsRetry is how often a binding whose Secret is missing looks
	// again: creating the Secret is the usual fix, and no watch tells us.
	credentialsRetry = time.Minute
)

// memory is what the reconciler keeps between reconciles, in this process
// only. Nothing in it decides an outcome on its own: it says when to look
// again, which numbers an unanswered call may still change, and which
// cached bindings may lack our last write. Every entry goes when its
// persona or binding does.
type memory struct {
	mu       sync.Mutex
	started  time.Time
	personas map[string]*personaMemory
	// lastWrite is, by binding, the resourceVersion of this process's last
	// write, until the cache shows it.
	lastWrite map[types.UID]string
	// lastKey is, by binding, the API key last read for it, so that a
	// binding deleted with its namespace and Secret can still detach.
	lastKey map[types.UID]string
}

type personaMemory struct {
	resyncAt time.Time
	// unanswered holds, by number, until when a call Bland never answered
	// may still land.
	unanswered map[string]time.Time
}

// init makes the maps; the first reconcile marks the process's start.
func (m *memory) init(now time.Time) {
	if m.personas == nil {
		m.personas = map[string]*personaMemory{}
		m.lastWrite = map[types.UID]string{}
		m.lastKey = map[types.UID]string{}
		m.started = now
	}
}

func (m *memory) persona(id string, now time.Time) *personaMemory {
	m.init(now)
	pm := m.personas[id]
	if pm == nil {
		pm = &personaMemory{unanswered: map[string]time.Time{}}
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
	pm := m.persona(id, now)
	if pm.resyncAt.IsZero() {
		pm.resyncAt = now.Add(interval + rand.N(interval+1))
	}
	return !now.Before(pm.resyncAt)
}

// looked records an attempt to read the persona, successful or not: the
// next resync is one interval (jittered) away. A failed read is retried by
// the queue's backoff or at its stall's retry time, never by the resync
// clock, which would otherwise stay due.
func (m *memory) looked(id string, interval time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.persona(id, now).resyncAt = now.Add(jittered(interval))
}

// read records a fresh read of the persona: calls whose grace has ended are
// settled by it.
func (m *memory) read(id string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id, now)
	for n, until := range pm.unanswered {
		if !until.After(now) {
			delete(pm.unanswered, n)
		}
	}
}

// resyncIn says how long until the persona's next resync.
func (m *memory) resyncIn(id string, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.persona(id, now).resyncAt.Sub(now)
}

// unanswer records numbers of a call whose answer never came.
func (m *memory) unanswer(id string, numbers []string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.persona(id, until)
	for _, n := range numbers {
		pm.unanswered[n] = until
	}
}

// unsettled returns the numbers an unanswered call may still change, and
// whether any call awaits a settling read (its grace may have ended).
func (m *memory) unsettled(id string, now time.Time) (numbers map[string]bool, pending bool, nextAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	numbers = map[string]bool{}
	for n, until := range m.persona(id, now).unanswered {
		pending = true
		if until.After(now) {
			numbers[n] = true
			if nextAt.IsZero() || until.Before(nextAt) {
				nextAt = until
			}
		}
	}
	return numbers, pending, nextAt
}

// inStartupGrace reports whether calls of an earlier process may still land.
func (m *memory) inStartupGrace(grace time.Duration, now time.Time) (early bool, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init(now)
	end = m.started.Add(grace)
	return now.Before(end), end
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
	m.init(time.Now())
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
	m.init(time.Now())
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
	return defaultResyncInterval
}
