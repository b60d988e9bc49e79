package main

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type row struct {
	id, figure, value, target string
	met                       bool
}

func render(rows []row, latency, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nMeasured by `make bench` on %s: %d cores, %s, simulated Bland latency %s per call, "+
		"manager with `--max-concurrent-reconciles=16`. The run took %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), latency, took.Round(time.Second))
	b.WriteString("| id | figure | measured | target | met |\n|---|---|---|---|---|\n")
	slices.SortStableFunc(rows, func(x, y row) int { return compareIDs(x.id, y.id) })
	for _, r := range rows {
		met := "yes"
		if !r.met {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.id, r.figure, r.value, r.target, met)
	}
	b.WriteString(notes)
	return b.String()
}

// compareIDs orders row ids by their number, then the rest: P3 before P3b,
// P3m, and P9 before P10.
func compareIDs(x, y string) int {
	nx, rx := splitID(x)
	ny, ry := splitID(y)
	if nx != ny {
		return nx - ny
	}
	return strings.Compare(rx, ry)
}

// splitID parts "P3b" into 3 and "b".
func splitID(id string) (int, string) {
	digits := strings.TrimLeft(strings.TrimPrefix(id, "P"), "0123456789")
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(id, "P"), digits))
	return n, digits
}

const notes = `
Reading the figures:

- P3, P3m and P8 are bound by the API server, not by Bland, so each is stated
  as a multiple of a floor measured in the same run, just before it, with the
  manager stopped: as many creates, then one finalizer patch and one status
  patch each, at the manager's concurrency, its end seen by the same watch
  as the row's. A new binding costs the API server the floor's writes (the
  intent written before the attach shares the finalizer's patch) and one
  Event, and waits for a 50 ms Bland call; in P3 every binding has a persona
  and calls of its own, in P3m and P8 ten bindings share one reconcile of
  their persona and its calls.
- P3m's calls per persona are all the simulator saw for its personas, reads
  and writes, from the first create until 3 s after all were Ready.
- P3b starts 5 s after the manager (restarted with the bucket on), as the
  other burst rows do, so that it measures pacing and not a restart (P4b's
  subject): its time runs from the first create to the last Ready, and the
  figure says when the first call came.
- P8's manager watches only P8's namespace (` + "`--watch-namespaces`" + `): the
  earlier rows leave about 11,000 bindings in the API server, and the row is
  about a manager that holds 10,000. Its RSS is read when all are Ready.
- P4c and P9 count in the steady state: first every persona has its first
  resync (spread over one to two intervals after the manager first sees it),
  then the window opens, 2 minutes (P4c) or one interval (P9). A resync is
  one GET per persona, its interval jittered by ±10%, so one persona may be
  read twice in a window and another not at all.
- Ready is followed with a watch on the group's namespace, not by listing it,
  so that the harness does not load the API server it measures. The floor
  ends by the same watch, so the watch's own cost (the API server encoding
  every change, the harness decoding it, on the same two cores) is on both
  sides of the ratio; on P8's 10,000 bindings it is a third of the floor.
- P2: resyncs are queued at low priority, and after a restart they are spread
  over one to two intervals, so a new binding does not wait behind them.
- P4c is scaled down (200 bindings, 30s, 2 minutes: the same ratio of window to
  interval as 10 minutes at 10m) to fit the run in a few minutes.
- P6 uses bindings whose status the harness wrote as in sync, so that 10,000 of
  them cost no calls; the manager runs with its default GC target of 50%.
- P10 runs its 19 accounts three times, on a manager at 5 calls a second
  per account: quiet, beside the throttled account, quiet again once the
  throttled account's bindings are deleted. The baseline is the mean of
  the two quiet runs, so that the API server holding more objects as the
  row goes on is on both sides of the ratio, and what remains is the
  throttled account's own load. Its calls are counted from its first
  binding's creation to the end of the loud run.
`
