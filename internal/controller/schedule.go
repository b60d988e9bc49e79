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

// schedule remembers, in memory, when each binding is next due for a resync.
// It is deliberately not in status: a field that moves on every resync would
// write to the API server on every resync. After a restart it is empty, and
// each binding's first resync is spread over one to two intervals.
type schedule struct {
	mu   sync.Mutex
	next map[types.NamespacedName]time.Time
}

// dueIn returns how long until key is due and whether it is due now. A key
// seen for the first time is scheduled first() from now.
func (s *schedule) dueIn(key types.NamespacedName, first func() time.Duration) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	at, ok := s.next[key]
	if !ok {
		at = now.Add(first())
		s.setLocked(key, at)
	}
	if wait := at.Sub(now); wait > 0 {
		return wait, false
	}
	return 0, true
}

// after schedules the next resync of key d from now and returns d.
func (s *schedule) after(key types.NamespacedName, d time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(key, time.Now().Add(d))
	return d
}

func (s *schedule) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.next, key)
}

func (s *schedule) setLocked(key types.NamespacedName, at time.Time) {
	if s.next == nil {
		s.next = map[types.NamespacedName]time.Time{}
	}
	s.next[key] = at
}

func keyOf(pb *v1alpha1.PersonaBinding) types.NamespacedName {
	return types.NamespacedName{Namespace: pb.Namespace, Name: pb.Name}
}

func resyncInterval(pb *v1alpha1.PersonaBinding) time.Duration {
	if r := pb.Spec.ResyncInterval; r != nil && r.Duration > 0 {
		return r.Duration
	}
	return defaultResyncInterval
}

// jittered spreads d by up to 10% either way, so that bindings created
// together drift apart while the average interval stays d.
func jittered(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// firstResync spreads the first resync after a restart over one to two
// intervals, so a restart costs no burst of calls.
func firstResync(interval time.Duration) func() time.Duration {
	return func() time.Duration { return interval + rand.N(interval+1) }
}
