package main

import (
	"time"

	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// callCount is what the simulator saw of one group in a span of time.
type callCount struct {
	all, gets, writes int
	// callsOf and getsOf count by persona, every persona of the group
	// listed (zero when it saw no call).
	callsOf, getsOf map[string]int
}

// countCalls counts the group's calls received in [from, to).
func (h *harness) countCalls(g *group, from, to time.Time) callCount {
	out := callCount{callsOf: map[string]int{}, getsOf: map[string]int{}}
	for _, id := range g.personas {
		out.callsOf[id], out.getsOf[id] = 0, 0
	}
	for _, c := range h.sim.Calls(func(c blandsim.Call) bool {
		return c.Account == g.name && !c.Time.Before(from) && c.Time.Before(to)
	}) {
		out.all++
		out.callsOf[c.PersonaID]++
		switch {
		case c.Endpoint == blandsim.EndpointGet:
			out.gets++
			out.getsOf[c.PersonaID]++
		case c.IsWrite():
			out.writes++
		}
	}
	return out
}

// spread is the highest and the lowest count of one persona.
func spread(byPersona map[string]int) (most, least int) {
	first := true
	for _, n := range byPersona {
		if first || n > most {
			most = n
		}
		if first || n < least {
			least = n
		}
		first = false
	}
	return most, least
}

// resyncWindow counts a Ready group's calls over window, once its resyncs
// are in their steady state. The manager puts a persona's first resync one
// to two intervals after it first sees it (so that a restart reads nothing
// at once), then one interval (±10%) after each read; a window opened at
// once would catch that one-time spread instead of the cost per interval.
// So it waits until every persona of the group has been read since the
// call, and half an interval more: a window opened at the last of those
// reads would end just as that persona's next one comes, and miss it half
// the time.
func (h *harness) resyncWindow(g *group, interval, window time.Duration) callCount {
	since := time.Now()
	waitUntil("every persona's first resync", 3*interval, func() bool {
		_, least := spread(h.countCalls(g, since, time.Now()).getsOf)
		return least >= 1
	})
	time.Sleep(interval / 2)
	start := time.Now()
	time.Sleep(window) // the measurement window
	return h.countCalls(g, start, start.Add(window))
}
