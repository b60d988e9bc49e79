package controller

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// TestResyncsAreSpreadAfterAStart checks that a restart costs no burst of
// reads: each persona's first resync falls one to two intervals after it is
// first seen, spread rather than together, and later ones one interval
// (±10%) after each read.
func TestResyncsAreSpreadAfterAStart(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var m memory
	const interval = 10 * time.Minute
	start := clock.Now()
	firsts := map[time.Duration]bool{}
	for i := range 200 {
		id := fmt.Sprintf("p%d", i)
		if m.resyncDue(id, interval, clock.Now()) {
			t.Fatalf("%s is due at once after a start", id)
		}
		wait := m.resyncIn(id, clock.Now())
		if wait < interval || wait > 2*interval {
			t.Fatalf("%s: first resync in %v, want between %v and %v", id, wait, interval, 2*interval)
		}
		firsts[wait.Round(time.Second)] = true
	}
	if len(firsts) < 100 {
		t.Errorf("first resyncs are bunched: %d distinct times for 200 personas", len(firsts))
	}

	clock.Step(2 * interval)
	if !m.resyncDue("p0", interval, clock.Now()) {
		t.Fatalf("p0 is not due two intervals after the start (%v)", clock.Since(start))
	}
	m.looked("p0", interval, clock.Now())
	if wait := m.resyncIn("p0", clock.Now()); wait < interval*9/10 || wait > interval*11/10 {
		t.Errorf("after a read, next resync in %v, want %v ±10%%", wait, interval)
	}
}

// TestARefusedReadBacksOffToTheInterval checks that a persona no key can
// read is looked at again after 1 s, 2 s, 4 s ..., never later than its
// resync interval, and that a read a key could make starts the count again.
func TestARefusedReadBacksOffToTheInterval(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var m memory
	const interval = 30 * time.Second
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, interval, interval} {
		m.refused("p", interval, clock.Now())
		if got := m.resyncIn("p", clock.Now()); got != want {
			t.Fatalf("after %d refused reads the next look is in %v, want %v", i+1, got, want)
		}
		if m.resyncDue("p", interval, clock.Now()) {
			t.Fatalf("after %d refused reads the resync is due at once: a spin", i+1)
		}
		clock.Step(want)
		if !m.resyncDue("p", interval, clock.Now()) {
			t.Fatalf("after %d refused reads the resync is not due %v later", i+1, want)
		}
	}
	m.looked("p", interval, clock.Now())
	m.refused("p", interval, clock.Now())
	if got := m.resyncIn("p", clock.Now()); got != time.Second {
		t.Errorf("after a read the backoff did not start again: next look in %v", got)
	}
	m.forget("p")
	if len(m.personas) != 0 {
		t.Errorf("forget left %d personas in memory", len(m.personas))
	}
}

// A binding whose cached copy lags our write is read live until the cache
// shows the version read: a second pass before then must not plan from the
// lagging copy.
func TestABindingIsReadLiveUntilTheCacheShowsOurWrite(t *testing.T) {
	var m memory
	written := &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{UID: "b", ResourceVersion: "5"}}
	lagging := &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{UID: "b", ResourceVersion: "3"}}
	m.wrote(written)
	if !m.stale(lagging) {
		t.Fatal("a cached copy older than our write was taken as current")
	}
	m.readLive(written)
	if !m.stale(lagging) {
		t.Fatal("after one live read, the next pass planned from the lagging cached copy")
	}
	if m.stale(written) {
		t.Fatal("the cache showing our write still counts as stale")
	}
	if m.stale(lagging) {
		t.Fatal("the entry outlived the cache catching up")
	}
}
