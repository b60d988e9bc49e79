package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// The base sequence: the rows P1 to P7, in four steps that run in this
// order around the persona rows (see main).

// idleMemory starts the manager with nothing to do and reads its memory,
// the first figure of P6.
func (b *bench) idleMemory() {
	b.startManager("--api-qps=-1")
	time.Sleep(5 * time.Second) // let the idle manager settle before reading its memory
	b.rss0 = b.rssMiB()
}

// onGroupA measures P4, P1, P5, P7 and P4b on the 1,000 bindings P3m left
// (100 personas of 10).
func (b *bench) onGroupA(a *group) {
	// P4: calls per change, on one binding (its persona is shared with nine
	// others, which do not change).
	p4 := func(change func(*v1alpha1.PersonaBinding)) map[blandsim.Endpoint]int {
		pb := a.bindings[0]
		before := b.callsOf(a.name)
		update(b.harness, pb, change)
		after := b.callsOf(a.name)
		for k := range after {
			after[k] -= before[k]
		}
		return after
	}
	first := a.bindings[0].Spec.InboundNumbers
	drop := p4(func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = first[:1] })
	addDrop := p4(func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = first[1:] })
	settings := p4(func(pb *v1alpha1.PersonaBinding) {
		pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: first[1], PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "p"}}}
	})
	p4ok := drop[blandsim.EndpointDetach] == 1 && total(drop) == 1 && addDrop[blandsim.EndpointAttach] == 1 && addDrop[blandsim.EndpointDetach] == 1 &&
		total(addDrop) == 2 && settings[blandsim.EndpointSettings] == 1 && total(settings) == 1
	b.add(row{"P4", "Bland calls per change (drop only / add+drop / settings)", fmt.Sprintf("%d / %d / %d calls, %d GETs", total(drop), total(addDrop), total(settings),
		drop[blandsim.EndpointGet]+addDrop[blandsim.EndpointGet]+settings[blandsim.EndpointGet]), "1 / 2 / 1, 0 GETs", p4ok})

	// P1: 100 spec changes, each timed to Ready with the persona matching.
	var took []time.Duration
	pb := a.bindings[1]
	nums := pb.Spec.InboundNumbers
	for i := range 100 {
		want := nums
		if i%2 == 0 {
			want = nums[:1]
		}
		start := time.Now()
		update(b.harness, pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = want })
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p50, p99 := took[49], took[98]
	b.add(row{"P1", "one spec change to Ready, persona matching (100 changes)", fmt.Sprintf("p50 %d ms, p99 %d ms", p50.Milliseconds(), p99.Milliseconds()), "p99 <= 300 ms", p99 <= 300*time.Millisecond})

	// P5, P7, P6: a minute idle with 1,000 bindings.
	time.Sleep(5 * time.Second) // let the last events flush before counting
	writes0, cpu0, calls0 := b.apiWrites(), b.cpuSeconds(), len(b.sim.History())
	idle := 60 * time.Second
	time.Sleep(idle) // the measurement window
	writes, cpu, calls := b.apiWrites()-writes0, b.cpuSeconds()-cpu0, len(b.sim.History())-calls0
	b.rss1000 = b.rssMiB()
	b.add(row{"P5", "API server writes by the manager, 1 min idle, 1,000 bindings", fmt.Sprintf("%.0f writes, %d Bland calls", writes, calls), "0", writes == 0})
	b.add(row{"P7", "manager CPU while idle, 1,000 bindings", fmt.Sprintf("%.2f%% of one core", 100*cpu/idle.Seconds()), "<= 2%", cpu/idle.Seconds() <= 0.02})

	// P4b: a restart with everything in sync.
	calls0 = len(b.sim.History())
	b.stopManager()
	b.startManager("--api-qps=-1")
	waitUntil("the restarted manager to see 1,000 bindings", 2*time.Minute, func() bool { return b.bindingsSeen() >= float64(b.made) })
	restartCalls := len(b.sim.History()) - calls0
	b.add(row{"P4b", "restart with 1,000 bindings in sync", fmt.Sprintf("%d Bland calls", restartCalls), "0", restartCalls == 0})
}

// bucketAndResync measures P3b (the token bucket on) and P4c (idle
// resyncs), and leaves the manager running with the bucket off.
func (b *bench) bucketAndResync() {
	// P3b: 200 bindings at once with the token bucket at R calls/s, each on
	// its own persona so that Bland calls, not the API server, are what the
	// bucket paces (bindings sharing a persona share their calls).
	const rate = 20
	// The burst meets a running manager, as in the other burst rows: a
	// restart's own work (caches, a pass of every persona it finds) is P4b's.
	b.stopManager()
	b.startManager(fmt.Sprintf("--api-qps=%d", rate), "--api-burst=1")
	time.Sleep(5 * time.Second)
	start := time.Now()
	d := b.makeGroup("d", 200, 1, 10*time.Minute, false)
	readyAt := b.awaitReady(d, readyLimit(200))
	attaches := b.sim.Calls(func(c blandsim.Call) bool { return c.Account == d.name && c.Endpoint == blandsim.EndpointAttach })
	throughput := float64(len(attaches)) / readyAt.Sub(start).Seconds()
	first := time.Duration(0)
	if len(attaches) > 0 {
		first = attaches[0].Time.Sub(start)
	}
	b.add(row{"P3b", fmt.Sprintf("200 bindings on as many personas created at once, bucket at R = %d calls/s", rate),
		fmt.Sprintf("%.1f calls/s (%.0f%% of R); first call %d ms after the first create", throughput, 100*throughput/rate, first.Milliseconds()), ">= 0.9 R", throughput >= 0.9*rate})
	b.stopManager()
	b.startManager("--api-qps=-1")

	// P4c, scaled: 200 bindings on 20 personas resyncing every 30s, counted
	// over 2 minutes of their steady state.
	const interval, window = 30 * time.Second, 2 * time.Minute
	c := b.makeGroup("c", 200, 10, interval, false)
	b.awaitReady(c, readyLimit(200))
	got := b.resyncWindow(c, interval, window)
	expected := float64(len(c.personas)) * window.Seconds() / interval.Seconds()
	off := (float64(got.gets) - expected) / expected
	b.add(row{"P4c", "idle resyncs: 200 bindings on 20 personas, resync 30s, 2 min (the 10 min / 10m ratio, scaled)",
		fmt.Sprintf("%d GETs (expected %.0f, one per persona per interval, %+.1f%%), %d writes", got.gets, expected, 100*off, got.writes),
		"within 10%, 0 writes", abs(off) <= 0.1 && got.writes == 0})
}

// tenThousand measures P6b, then P6 with 10,000 bindings in all, then P2: a
// new binding while 5,000 of them resync.
func (b *bench) tenThousand() {
	ctx := context.Background()
	// P6b: unrelated Secrets do not reach the manager's memory.
	rssBefore := b.rssMiB()
	payload := strings.Repeat("x", 100<<10)
	check(b.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "unrelated"}}))
	parallel(1000, 16, func(i int) {
		check(b.k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%04d", i), Namespace: "unrelated"}, StringData: map[string]string{"data": payload}}))
	})
	time.Sleep(10 * time.Second) // let any cache that would hold them fill
	secretsDelta := b.rssMiB() - rssBefore
	b.add(row{"P6b", "RSS added by 1,000 unrelated 100 KiB Secrets", fmt.Sprintf("%+.1f MiB", secretsDelta), "<= 2 MiB", secretsDelta <= 2})

	// P6: the bindings made so far, 5,000 resyncing every 30s, and as many
	// more as make 10,000, all written as in sync with the manager stopped.
	b.stopManager()
	e := b.makeGroup("e", 5000, 50, 30*time.Second, true)
	b.makeGroup("f", 10000-b.made, 50, 10*time.Minute, true)
	b.startManager("--api-qps=-1")
	restarted := time.Now()
	waitUntil("the manager to see 10,000 bindings", 5*time.Minute, func() bool { return b.bindingsSeen() >= 10000 })
	time.Sleep(max(0, 25*time.Second-time.Since(restarted))) // idle until the first resyncs of group e are due
	rss10k := b.rssMiB()
	b.add(row{"P6", "manager RSS idle with 0 / 1,000 / 10,000 bindings", fmt.Sprintf("%.0f / %.0f / %.0f MiB", b.rss0, b.rss1000, rss10k), "<= 50 / 60 / 130 MiB", b.rss0 <= 50 && b.rss1000 <= 60 && rss10k <= 130})

	// P2: a new binding once a tenth of group e's resyncs are done (one GET
	// per persona: 10 of its 100 personas, as 500 of its 5,000 bindings were
	// when a binding was the unit of work).
	waitUntil("5,000 resyncs to be under way", 2*time.Minute, func() bool { return b.callsOf(e.name)[blandsim.EndpointGet] >= len(e.personas)/10 })
	createdAt := time.Now()
	b.makeGroup("g", 1, 1, 10*time.Minute, false)
	waitUntil("the new binding's first call", 2*time.Minute, func() bool { return len(b.sim.Calls(func(c blandsim.Call) bool { return c.Account == "g" })) > 0 })
	firstCall := b.sim.Calls(func(c blandsim.Call) bool { return c.Account == "g" })[0].Time.Sub(createdAt)
	resyncing := b.callsOf(e.name)[blandsim.EndpointGet]
	b.add(row{"P2", "a new binding's first Bland call while 5,000 others resync", fmt.Sprintf("%d ms (%d resync GETs done by then)", firstCall.Milliseconds(), resyncing), "<= 1 s", firstCall <= time.Second})
}

func total(m map[blandsim.Endpoint]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// update changes a binding and waits until it is Ready at the new generation
// with the simulator's persona carrying exactly the numbers asked for.
func update(h *harness, pb *v1alpha1.PersonaBinding, change func(*v1alpha1.PersonaBinding)) {
	ctx := context.Background()
	cur := &v1alpha1.PersonaBinding{}
	for {
		check(h.k8s.Get(ctx, client.ObjectKeyFromObject(pb), cur))
		change(cur)
		err := h.k8s.Update(ctx, cur)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "modified") {
			check(err)
		}
	}
	want := cur.Spec.InboundNumbers
	waitUntilFast(func() bool {
		got := &v1alpha1.PersonaBinding{}
		check(h.k8s.Get(ctx, client.ObjectKeyFromObject(pb), got))
		if !ready(got) {
			return false
		}
		attached := map[string]bool{}
		for _, n := range h.sim.Attached(pb.Spec.PersonaID) {
			attached[n] = true
		}
		for _, n := range want {
			if !attached[n] {
				return false
			}
		}
		return true
	})
}

// waitUntilFast polls every 5ms, for latency figures.
func waitUntilFast(cond func() bool) {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			check(fmt.Errorf("a change did not converge within a minute"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
