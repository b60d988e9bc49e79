// Command bench measures the operator against the targets of the performance
// issue: a real kube-apiserver and etcd (the offline control plane), the Bland
// simulator with a latency per call, and the built manager as its own process.
// It prints one Markdown table and writes it to docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

func main() {
	latency := flag.Duration("latency", 50*time.Millisecond, "Latency of every simulated Bland call.")
	out := flag.String("out", "docs/benchmarks.md", "Where to write the table.")
	managerBin := flag.String("manager", "bin/manager", "The manager binary.")
	flag.Parse()
	started := time.Now()

	dir, err := os.MkdirTemp("", "bland-bench-")
	check(err)
	defer func() { _ = os.RemoveAll(dir) }()
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	check(err)
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	check(err)
	kc, err := admin.KubeConfig()
	check(err)
	h := &harness{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), managerBin: *managerBin}
	check(os.WriteFile(h.kubeconfig, kc, 0o600))
	scheme := kruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	cfg.QPS, cfg.Burst = 2000, 4000
	h.k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	check(err)
	h.clientset, err = kubernetes.NewForConfig(cfg)
	check(err)
	h.sim = blandsim.New()
	h.sim.Latency = *latency
	srv := httptest.NewServer(h.sim)
	defer srv.Close()
	h.simURL = srv.URL
	defer h.stopManager()

	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "%s %s: %s (target %s)\n", r.id, r.figure, r.value, r.target)
	}
	ctx := context.Background()

	// The API-server floor for P3, measured before the manager exists.
	floor := h.apiServerFloor(1000, 16)

	// P6 with no bindings.
	h.startManager("--api-qps=-1")
	time.Sleep(5 * time.Second) // let the idle manager settle before reading its memory
	rss0 := h.rssMiB()

	// P3: 1,000 bindings at once, token bucket off.
	start := time.Now()
	a := h.makeGroup("a", 1000, 10, 10*time.Minute, false)
	waitUntil("1,000 bindings Ready", 5*time.Minute, func() bool { return h.allReady(a) })
	p3 := time.Since(start)
	ratio := p3.Seconds() / floor.Seconds()
	add(row{"P3", "1,000 bindings created at once, all Ready, bucket off, as a multiple of the API-server floor",
		fmt.Sprintf("%.2fx (%.1f s against a floor of %.1f s)", ratio, p3.Seconds(), floor.Seconds()), "<= 2x", ratio <= 2})

	// P4: calls per change, on one binding (its persona is shared with nine
	// others, which do not change).
	p4 := func(change func(*v1alpha1.PersonaBinding)) map[blandsim.Endpoint]int {
		pb := a.bindings[0]
		before := h.callsOf("a")
		update(h, pb, change)
		after := h.callsOf("a")
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
	add(row{"P4", "Bland calls per change (drop only / add+drop / settings)", fmt.Sprintf("%d / %d / %d calls, %d GETs", total(drop), total(addDrop), total(settings),
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
		update(h, pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = want })
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p50, p99 := took[49], took[98]
	add(row{"P1", "one spec change to Ready, persona matching (100 changes)", fmt.Sprintf("p50 %d ms, p99 %d ms", p50.Milliseconds(), p99.Milliseconds()), "p99 <= 300 ms", p99 <= 300*time.Millisecond})

	// P5, P7, P6: a minute idle with 1,000 bindings.
	time.Sleep(5 * time.Second) // let the last events flush before counting
	writes0, cpu0, calls0 := h.apiWrites(), h.cpuSeconds(), len(h.sim.History())
	idle := 60 * time.Second
	time.Sleep(idle) // the measurement window
	writes, cpu, calls := h.apiWrites()-writes0, h.cpuSeconds()-cpu0, len(h.sim.History())-calls0
	rss1000 := h.rssMiB()
	add(row{"P5", "API server writes by the manager, 1 min idle, 1,000 bindings", fmt.Sprintf("%.0f writes, %d Bland calls", writes, calls), "0", writes == 0})
	add(row{"P7", "manager CPU while idle, 1,000 bindings", fmt.Sprintf("%.2f%% of one core", 100*cpu/idle.Seconds()), "<= 2%", cpu/idle.Seconds() <= 0.02})

	// P4b: a restart with everything in sync.
	calls0 = len(h.sim.History())
	h.stopManager()
	h.startManager("--api-qps=-1")
	waitUntil("the restarted manager to see 1,000 bindings", 2*time.Minute, func() bool { return h.reconciles() >= 1000 })
	restartCalls := len(h.sim.History()) - calls0
	add(row{"P4b", "restart with 1,000 bindings in sync", fmt.Sprintf("%d Bland calls", restartCalls), "0", restartCalls == 0})

	// P3b: the same with the token bucket at R calls/s.
	const rate = 20
	h.stopManager()
	h.startManager(fmt.Sprintf("--api-qps=%d", rate), "--api-burst=1")
	start = time.Now()
	d := h.makeGroup("d", 200, 10, 10*time.Minute, false)
	waitUntil("200 bindings Ready with the bucket on", 5*time.Minute, func() bool { return h.allReady(d) })
	throughput := float64(h.callsOf("d")[blandsim.EndpointAttach]) / time.Since(start).Seconds()
	add(row{"P3b", fmt.Sprintf("200 bindings created at once, bucket at R = %d calls/s", rate), fmt.Sprintf("%.1f calls/s (%.0f%% of R)", throughput, 100*throughput/rate), ">= 0.9 R", throughput >= 0.9*rate})
	h.stopManager()
	h.startManager("--api-qps=-1")

	// P4c, scaled: 200 bindings resyncing every 30s, counted over 2 minutes.
	c := h.makeGroup("c", 200, 10, 30*time.Second, false)
	waitUntil("200 resyncing bindings Ready", 2*time.Minute, func() bool { return h.allReady(c) })
	before := h.callsOf("c")
	window := 2 * time.Minute
	time.Sleep(window) // the measurement window
	afterC := h.callsOf("c")
	gets, writesC := afterC[blandsim.EndpointGet]-before[blandsim.EndpointGet], total(afterC)-total(before)-(afterC[blandsim.EndpointGet]-before[blandsim.EndpointGet])
	expected := 200 * window.Seconds() / 30
	add(row{"P4c", "idle resyncs: 200 bindings, resync 30s, 2 min (the 10 min / 10m ratio, scaled)", fmt.Sprintf("%d GETs (expected %.0f, %+.1f%%), %d writes", gets, expected, 100*(float64(gets)-expected)/expected, writesC),
		"within 10%, 0 writes", abs(float64(gets)-expected) <= 0.1*expected && writesC == 0})

	// P6b: unrelated Secrets do not reach the manager's memory.
	rssBefore := h.rssMiB()
	payload := strings.Repeat("x", 100<<10)
	check(h.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "unrelated"}}))
	parallel(1000, 16, func(i int) {
		check(h.k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%04d", i), Namespace: "unrelated"}, StringData: map[string]string{"data": payload}}))
	})
	time.Sleep(10 * time.Second) // let any cache that would hold them fill
	secretsDelta := h.rssMiB() - rssBefore
	add(row{"P6b", "RSS added by 1,000 unrelated 100 KiB Secrets", fmt.Sprintf("%+.1f MiB", secretsDelta), "<= 2 MiB", secretsDelta <= 2})

	// P6 with 10,000 bindings, then P2: a new binding while 5,000 resync.
	h.stopManager()
	h.makeGroup("e", 5000, 50, 30*time.Second, true)
	h.makeGroup("f", 10000-5000-1000-200-200, 50, 10*time.Minute, true)
	h.startManager("--api-qps=-1")
	restarted := time.Now()
	waitUntil("the manager to see 10,000 bindings", 5*time.Minute, func() bool { return h.reconciles() >= 10000 })
	time.Sleep(max(0, 25*time.Second-time.Since(restarted))) // idle until the first resyncs of group e are due
	rss10k := h.rssMiB()
	add(row{"P6", "manager RSS idle with 0 / 1,000 / 10,000 bindings", fmt.Sprintf("%.0f / %.0f / %.0f MiB", rss0, rss1000, rss10k), "<= 50 / 60 / 130 MiB", rss0 <= 50 && rss1000 <= 60 && rss10k <= 130})

	waitUntil("5,000 resyncs to be under way", 2*time.Minute, func() bool { return h.callsOf("e")[blandsim.EndpointGet] >= 500 })
	createdAt := time.Now()
	h.makeGroup("g", 1, 1, 10*time.Minute, false)
	waitUntil("the new binding's first call", 2*time.Minute, func() bool { return len(h.sim.Calls(func(c blandsim.Call) bool { return c.Account == "g" })) > 0 })
	firstCall := h.sim.Calls(func(c blandsim.Call) bool { return c.Account == "g" })[0].Time.Sub(createdAt)
	resyncing := h.callsOf("e")[blandsim.EndpointGet]
	add(row{"P2", "a new binding's first Bland call while 5,000 others resync", fmt.Sprintf("%d ms (%d resync GETs done by then)", firstCall.Milliseconds(), resyncing), "<= 1 s", firstCall <= time.Second})

	table := render(rows, *latency, time.Since(started))
	fmt.Println(table)
	check(os.WriteFile(*out, []byte(table), 0o644))
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
	slices.SortStableFunc(rows, func(x, y row) int { return strings.Compare(x.id, y.id) })
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

const notes = `
Reading the figures:

- P3 is bound by the API server, not by Bland, so it is stated as a multiple of
  the floor measured in the same run: 1,000 creates, then one finalizer patch
  and one status patch each, at the manager's concurrency, with no manager. A
  new binding costs four writes (the finalizer, the ownership intent written
  before the attach, the final status, an Event) against the floor's two, plus
  a 50 ms Bland call; with the bindings of one persona serialized, about 2x the
  floor is what is left. The intent write is the price of never leaking a
  number on a crash.
- P2: resyncs are queued at low priority, and after a restart they are spread
  over one to two intervals, so a new binding does not wait behind them.
- P4c is scaled down (200 bindings, 30s, 2 minutes: the same ratio of window to
  interval as 10 minutes at 10m) to fit the run in a few minutes.
- P6 uses bindings whose status the harness wrote as in sync, so that 10,000 of
  them cost no calls; the manager runs with its default GC target of 50%.
`
