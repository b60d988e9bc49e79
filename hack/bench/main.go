// Command bench measures the operator against the targets of the performance
// issue: a real kube-apiserver and etcd (the offline control plane), the Bland
// simulator with a latency per call, and the built manager as its own process.
// It prints one Markdown table and writes it to docs/benchmarks.md; --only
// and --scale run a subset, smaller, for a quick check.
package main

import (
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

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
	out := flag.String("out", "docs/benchmarks.md", "Where to write the table (a run with --only or --scale prints it and writes nothing).")
	managerBin := flag.String("manager", "bin/manager", "The manager binary.")
	only := flag.String("only", "", "Comma-separated rows to run, e.g. P3m,P9; empty runs every row. P3, P3m, P8 and P9 run on their own; "+
		"naming any of P1, P2, P3b, P4, P4b, P4c, P5, P6, P6b, P7 runs that whole sequence (they share bindings), after P3m.")
	scale := flag.Float64("scale", 1, "Multiplies the bindings and personas of P3, P3m, P8 and P9 and of their floors, "+
		"for a quick check of the harness (0.1: 100, 100, 1,000 and 100 bindings); the targets are for 1. "+
		"Only with --only naming none but those rows.")
	var managerArgs []string
	flag.Func("manager-arg", "An extra argument for every manager the run starts (repeatable), e.g. --manager-arg=--pprof-bind-address=127.0.0.1:6060 to profile a row.",
		func(v string) error { managerArgs = append(managerArgs, v); return nil })
	flag.Parse()
	sel, err := parseSelection(*only, *scale)
	check(err)
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
	h := &harness{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), managerBin: *managerBin, managerArgs: managerArgs}
	check(os.WriteFile(h.kubeconfig, kc, 0o600))
	scheme := kruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	cfg.QPS, cfg.Burst = 2000, 4000
	h.k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	check(err)
	h.clientset, err = kubernetes.NewForConfig(cfg)
	check(err)
	h.sim = blandsim.New()
	h.sim.Latency = *latency
	srv := httptest.NewServer(h.sim)
	defer srv.Close()
	h.simURL = srv.URL
	defer h.stopManager()

	b := &bench{harness: h, selection: sel}

	// The order matters: P3m's bindings carry the base sequence, P9 runs
	// with the manager the base sequence leaves, P6 counts the bindings made
	// so far, and P8 runs last, on a manager of its own.
	base := b.want(baseRows...)
	if base {
		b.idleMemory()
	}
	if base || b.want("P3m") {
		a := b.p3m()
		if base {
			b.onGroupA(a)
		}
	}
	if b.want("P3") {
		b.p3()
	}
	if base {
		b.bucketAndResync()
	}
	if b.want("P9") {
		b.p9()
	}
	if b.want("P10") {
		b.p10()
	}
	if b.want("P11") {
		b.p11()
	}
	if base {
		b.tenThousand()
	}
	if b.want("P8") {
		b.p8()
	}

	table := render(b.rows, *latency, time.Since(started))
	fmt.Println(table)
	if !b.partial() {
		check(os.WriteFile(*out, []byte(table), 0o644))
	}
}
