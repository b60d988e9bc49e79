package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// The rows of this file measure what keying the work queue by persona
// promises: a persona's bindings share one reconcile, so a burst costs about
// one attach per persona and a resync one GET per persona, whatever the
// number of bindings on it.

// p3m creates 1,000 bindings on 100 personas (10 each, each with numbers of
// its own) at once, times them to Ready against the API-server floor, and
// counts Bland's calls per persona. Its group is "a": the base sequence goes
// on with these bindings.
func (b *bench) p3m() *group {
	n := b.scaled(1000)
	floor := b.floorThenManager(n, "--api-qps=-1")
	g, took := b.burst("a", n, 10)
	time.Sleep(3 * time.Second) // a call the burst still causes lands before counting
	calls := b.countCalls(g, time.Time{}, time.Now())
	most, _ := spread(calls.callsOf)
	mean := float64(calls.all) / float64(len(g.personas))
	ratio, vs := againstFloor(took, floor)
	b.add(row{"P3m", fmt.Sprintf("%s bindings on %s personas (10 each) created at once, all Ready, bucket off, as a multiple of the API-server floor; Bland calls (reads and writes) per persona",
		thousands(n), thousands(len(g.personas))),
		fmt.Sprintf("%s; %.2f calls per persona, at most %d", vs, mean, most), "<= 1.5x; <= 2 per persona", ratio <= 1.5 && most <= 2})
	return g
}

// p3 creates 1,000 bindings on as many personas: nothing to share, so this
// is the cost of a binding alone.
func (b *bench) p3() {
	n := b.scaled(1000)
	floor := b.floorThenManager(n, "--api-qps=-1")
	_, took := b.burst("b", n, 1)
	ratio, vs := againstFloor(took, floor)
	b.add(row{"P3", fmt.Sprintf("%s bindings on as many personas created at once, all Ready, bucket off, as a multiple of the API-server floor", thousands(n)),
		vs, "<= 2x", ratio <= 2})
}

// p8 creates 10,000 bindings on 1,000 personas and reads the manager's
// memory once all are Ready. Earlier rows leave some 11,000 bindings in the
// API server, so the manager watches only this group's namespace: the row is
// about a manager that holds 10,000. P8 runs last for that reason.
func (b *bench) p8() {
	n := b.scaled(10000)
	floor := b.floorThenManager(n, "--api-qps=-1", "--watch-namespaces", groupNamespace("p8"))
	g, took := b.burst("p8", n, 10)
	rss := b.rssMiB()
	ratio, vs := againstFloor(took, floor)
	b.add(row{"P8", fmt.Sprintf("%s new bindings on %s personas, all Ready, bucket off, as a multiple of the API-server floor; manager RSS then",
		thousands(n), thousands(len(g.personas))),
		fmt.Sprintf("%s; %.0f MiB", vs, rss), "<= 2x; <= 150 MiB", ratio <= 2 && rss <= 150})
}

// p9 counts the GETs of one resync interval over 1,000 bindings on 100
// personas resyncing every 30 s (the schema's minimum): one per persona, not
// one per binding.
func (b *bench) p9() {
	const interval = 30 * time.Second
	if b.mgr == nil {
		b.startManager("--api-qps=-1")
	}
	n := b.scaled(1000)
	g := b.makeGroup("p9", n, 10, interval, false)
	b.awaitReady(g, readyLimit(n))
	got := b.resyncWindow(g, interval, interval)
	most, least := spread(got.getsOf)
	expected := len(g.personas)
	off := float64(got.gets-expected) / float64(expected)
	b.add(row{"P9", fmt.Sprintf("one resync interval of %s bindings on %s personas, resync 30s, after every persona's first resync", thousands(n), thousands(expected)),
		fmt.Sprintf("%d GETs (expected %d, %+.1f%%), %d to %d per persona, %d writes", got.gets, expected, 100*off, least, most, got.writes),
		fmt.Sprintf("%d GETs (±10%%), <= 2 per persona, 0 writes", expected), abs(off) <= 0.1 && most <= 2 && got.writes == 0})
}

// burst creates n bindings, perPersona to a persona, at once, and says how
// long from the first create until all were Ready.
func (b *bench) burst(name string, n, perPersona int) (*group, time.Duration) {
	before := b.apiRequests()
	start := time.Now()
	g := b.makeGroup(name, n, perPersona, 10*time.Minute, false)
	took := b.awaitReady(g, readyLimit(n)).Sub(start)
	after := b.apiRequests()
	var per []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k]; d > 0 {
			per = append(per, fmt.Sprintf("%s %.2f", k, d/float64(n)))
		}
	}
	fmt.Fprintf(os.Stderr, "%s: API requests per binding (harness and manager): %s\n", name, strings.Join(per, ", "))
	return g, took
}

// floorThenManager measures the API-server floor for n bindings with the
// manager stopped, on the API server as it is at this point of the run
// (later rows find it holding the earlier rows' bindings), then starts the
// manager with args and gives it time to fill its caches and handle the
// bindings it finds, so that the burst that follows meets a running manager.
func (b *bench) floorThenManager(n int, args ...string) time.Duration {
	b.stopManager()
	if !b.warm {
		// A fresh API server is slow to its first writes (3.5 s against
		// 0.6 s for the floor of 100 bindings measured next, on 2 cores):
		// a first floor would be too high and flatter its row.
		b.apiServerFloor(100, 16)
		b.warm = true
	}
	floor := b.apiServerFloor(n, 16)
	b.startManager(args...)
	time.Sleep(5 * time.Second) // the manager settles (startManager returns when its metrics answer)
	return floor
}

// againstFloor states a duration as a multiple of its floor.
func againstFloor(took, floor time.Duration) (float64, string) {
	ratio := took.Seconds() / floor.Seconds()
	return ratio, fmt.Sprintf("%.2fx (%.1f s against a floor of %.1f s)", ratio, took.Seconds(), floor.Seconds())
}
