package reliability

import (
	"slices"
	"time"

	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// cacheGrace is how long before a detach call the model lets an edit be
// unseen by the operator: the informer's lag behind the API server plus the
// intent write and a persona GET between planning and calling. On this test's
// API server the lag is a few milliseconds (checkHistory logs the measured
// time from a spec write to the manager's first status for it, which also
// includes a whole reconcile), and the GET is at most 120 ms of injected
// latency; 300 ms covers both with room. While the managers are cut off
// from the API server their cache lags by the cut, so a detach that starts
// during a cut, or within a second after it, is judged from the cut's start.
const cacheGrace = 300 * time.Millisecond

// apiTimeout is the managers' --api-timeout (startManager).
const apiTimeout = 2 * time.Second

// checkHistory judges the run's calls to Bland from the simulator's history.
func (r *modelRun) checkHistory() {
	calls := sim.Calls(func(c blandsim.Call) bool { return slices.Contains(r.callKeys(), c.PersonaID) })
	deaths, terms := r.reps.history()
	r.checkOverlaps(calls, deaths)
	r.checkLate(calls, deaths, terms)
	r.checkDetaches(calls)
	r.reportKindMoves(calls)
	r.logLag()
}

// checkOverlaps finds two calls to one persona in flight together. The
// operator serializes them, except with a call whose client had gone (Late:
// judged by checkLate) or across the death of a process (kill -9, or the
// exit after a lost Lease), whose call may still be running. A SIGTERM
// excuses nothing: graceful shutdown waits for calls before the Lease goes.
func (r *modelRun) checkOverlaps(calls []blandsim.Call, deaths []time.Time) {
	excused := 0
	defer func() {
		r.t.Logf("%d calls; %d pairs in flight together across a kill or with a late landing", len(calls), excused)
	}()
	for i := range calls {
		for j := i + 1; j < len(calls); j++ {
			a, b := calls[i], calls[j]
			if a.PersonaID != b.PersonaID || !a.Time.Before(b.Done) || !b.Time.Before(a.Done) {
				continue
			}
			first, second := minTime(a.Time, b.Time), maxTime(a.Time, b.Time)
			if a.Late || b.Late || slices.ContainsFunc(deaths, func(k time.Time) bool { return k.After(first) && k.Before(second) }) {
				excused++
				continue
			}
			r.t.Errorf("two calls to %s in flight together: %s %v at %s–%s and %s %v at %s–%s", a.PersonaID,
				a.Endpoint, a.Numbers, a.Time.Format("15:04:05.000"), a.Done.Format("15:04:05.000"),
				b.Endpoint, b.Numbers, b.Time.Format("15:04:05.000"), b.Done.Format("15:04:05.000"))
		}
	}
}

// checkLate explains every write that landed after its client gave up: the
// client timed out (a hang), or its process died. One abandoned by a process
// shutting down on SIGTERM is a defect (graceful shutdown waits for calls
// in flight).
func (r *modelRun) checkLate(calls []blandsim.Call, deaths []time.Time, terms [][2]time.Time) {
	for _, c := range calls {
		if !c.Late {
			continue
		}
		gaveUp := c.Done.Add(-r.lateDelay)
		if gaveUp.Sub(c.Time) >= apiTimeout-200*time.Millisecond {
			continue // timed out
		}
		if slices.ContainsFunc(deaths, func(d time.Time) bool {
			return gaveUp.After(d.Add(-time.Second)) && gaveUp.Before(d.Add(500*time.Millisecond))
		}) {
			continue
		}
		if slices.ContainsFunc(terms, func(t [2]time.Time) bool {
			return gaveUp.After(t[0].Add(-50*time.Millisecond)) && gaveUp.Before(t[1].Add(300*time.Millisecond))
		}) {
			r.t.Errorf("%s %s %v sent at %s was abandoned at about %s by a manager shutting down on SIGTERM, and landed at %s",
				c.Endpoint, c.PersonaID, c.Numbers, c.Time.Format("15:04:05.000"), gaveUp.Format("15:04:05.000"), c.Done.Format("15:04:05.000"))
			continue
		}
		r.t.Logf("note: %s %s %v sent at %s was abandoned at about %s for a reason the test does not know", c.Endpoint, c.PersonaID, c.Numbers,
			c.Time.Format("15:04:05.000"), gaveUp.Format("15:04:05.000"))
	}
}

// checkDetaches finds detach calls that took a number from the persona of
// the binding that held it, in every world that may have been in force from
// cacheGrace before the call until it was answered (or landed).
func (r *modelRun) checkDetaches(calls []blandsim.Call) {
	for _, c := range calls {
		if c.Endpoint != blandsim.EndpointDetach || c.Status != 200 {
			continue
		}
		from := c.Time.Add(-cacheGrace)
		if cutStart, ok := r.nemesis.cutBefore(c.Time); ok && cutStart.Before(from) {
			from = cutStart
		}
		for _, n := range c.Numbers {
			if holder := r.heldThroughout(n, c.PersonaID, from, c.Done); holder != "" {
				r.t.Errorf("detach of %s from %s at %s (answered %s) while %s held it there", n, c.PersonaID,
					c.Time.Format("15:04:05.000"), c.Done.Format("15:04:05.000"), holder)
			}
		}
	}
}

func (r *modelRun) heldThroughout(n, persona string, from, to time.Time) string {
	holder := ""
	for _, w := range r.worldsDuring(from, to) {
		h, ok := w.holder(n)
		if !ok || h.persona != persona || (holder != "" && holder != h.name) {
			return ""
		}
		holder = h.name
	}
	return holder
}

// logLag logs the time from each spec write to the first status the manager
// wrote for that generation: an upper bound of the cache lag cacheGrace covers.
func (r *modelRun) logLag() {
	r.mu.Lock()
	gens := r.gens
	r.mu.Unlock()
	var lags []time.Duration
	for name, byGen := range gens {
		for g, rec := range byGen {
			for _, o := range r.truth.eventsSince(rec.since) {
				if o.pb.Name == name && o.pb.Status.ObservedGeneration == g {
					lags = append(lags, o.at.Sub(rec.since))
					break
				}
			}
		}
	}
	if len(lags) == 0 {
		return
	}
	slices.Sort(lags)
	r.t.Logf("spec write to first status of that generation: min %s, median %s, p90 %s (%d writes)",
		lags[0].Round(time.Millisecond), lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)*9/10].Round(time.Millisecond), len(lags))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
