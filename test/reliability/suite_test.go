// Package reliability runs the manager binary as a separate process against a
// real API server and the simulated Bland, injects faults, crashes and leader
// changes, and checks that every binding converges without losing a number.
//
// make test runs the short form; RELIABILITY_LONG=1 (make test-reliability)
// runs the long form whose figures go into the closing notes.
package reliability

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

var (
	k8s        client.WithWatch
	kubeconfig string
	managerBin string
	sim        *blandsim.Server
	// apiServerProxy sits between the managers (through kubeconfig) and the
	// API server, so a test can cut them off; the tests' own client k8s
	// talks to the API server directly and never sees a cut.
	apiServerProxy *apiProxy
	simURL         string
	long           = os.Getenv("RELIABILITY_LONG") == "1"
)

// size picks the short or the long form of a figure.
func size(short, longForm int) int {
	if long {
		return longForm
	}
	return short
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run with `make test-reliability`")
		return 1
	}
	dir, err := os.MkdirTemp("", "bland-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	managerBin = filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", managerBin, "./cmd")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the manager: %v\n%s", err, out)
		return 1
	}

	crds, err := crdsWithShortResync()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the CRDs:", err)
		return 1
	}
	env := &envtest.Environment{CRDs: crds}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "reliability", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, _ := admin.KubeConfig()
	if kc, err = throughProxy(kc); err != nil {
		fmt.Fprintln(os.Stderr, "putting the API proxy in front of the control plane:", err)
		return 1
	}
	defer apiServerProxy.Close()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	cfg.QPS, cfg.Burst = 500, 1000
	if k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	sim = blandsim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	simURL = srv.URL
	return m.Run()
}

// throughProxy starts apiServerProxy in front of the server of kubeconfig kc
// and returns kc pointing at the proxy. TLS passes through the proxy, and the
// server's certificate names 127.0.0.1, so only the port changes.
func throughProxy(kc []byte) ([]byte, error) {
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		return nil, err
	}
	for _, cluster := range cfg.Clusters {
		u, err := url.Parse(cluster.Server)
		if err != nil {
			return nil, err
		}
		if apiServerProxy == nil {
			if apiServerProxy, err = newAPIProxy(u.Host); err != nil {
				return nil, err
			}
		}
		u.Host = apiServerProxy.Addr()
		cluster.Server = u.String()
	}
	if apiServerProxy == nil {
		return nil, fmt.Errorf("kubeconfig names no cluster")
	}
	return clientcmd.Write(*cfg)
}

// manager is one manager process.
type manager struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startManager runs the manager binary against the simulator.
func startManager(t *testing.T, args ...string) *manager {
	t.Helper()
	return startBinary(t, managerBin, args...)
}

// startBinary runs a manager binary (this tree's, or a release's) against
// the simulator.
func startBinary(t *testing.T, bin string, args ...string) *manager {
	t.Helper()
	dir := os.Getenv("MANAGER_LOG_DIR") // keeps every manager's whole log, to read after a failure
	if dir == "" {
		dir = t.TempDir()
	}
	logPath := filepath.Join(dir, fmt.Sprintf("manager-%d.log", time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--bland-api-url", simURL, "--allow-insecure-api-url", "--metrics-bind-address", "0",
		"--health-probe-bind-address", "0", "--api-timeout", "2s", "--max-concurrent-reconciles", "8"}
	cmd := exec.Command(bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &manager{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(m.done) }()
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- manager log (tail) ----\n%s", b[max(0, len(b)-8000):])
		}
	})
	return m
}

func (m *manager) kill() { m.signal(syscall.SIGKILL) }

func (m *manager) signal(sig syscall.Signal) {
	_ = m.cmd.Process.Signal(sig)
	<-m.done
}

// leaseDuration is the managers' Lease: a standby leads at most this long
// after its leader stopped renewing.
const leaseDuration = 2 * time.Second

// leaderElection runs a manager as deployments do, with leader election, on
// short timings. A restarted process then acts only once the killed one's
// Lease has expired, by which time the killed one's calls to Bland have
// landed; without it, a call still in flight can land after the new process
// read the persona, and nobody owns the number it attached.
func leaderElection(ns string) []string {
	return []string{"--leader-elect", "--leader-election-namespace", ns, "--leader-election-lease-duration=" + leaseDuration.String(),
		"--leader-election-renew-deadline=1s", "--leader-election-retry-period=200ms"}
}

// account makes a namespace with a Secret for a new simulated account that
// owns n numbers, and returns the namespace, account name and numbers.
func account(t *testing.T, name string, n int) (ns string, numbers []string) {
	t.Helper()
	ns = name
	key := "sk-" + name
	for i := range n {
		numbers = append(numbers, fmt.Sprintf("+1%03d%07d", 200+len(name)%700, i+hash(name)%1000*10000))
	}
	sim.AddAccount(name, key, numbers...)
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: ns}, StringData: map[string]string{"apiKey": key}}))
	return ns, numbers
}

func hash(s string) int {
	h := 0
	for _, c := range s {
		h = h*31 + int(c)
	}
	if h < 0 {
		h = -h
	}
	return h
}

// newBinding returns a binding of persona with numbers, reading the API key
// from the Secret named secret.
func newBinding(ns, name, persona, secret string, numbers ...string) *v1alpha1.PersonaBinding {
	return &v1alpha1.PersonaBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.PersonaBindingSpec{PersonaID: persona, InboundNumbers: numbers, CredentialsRef: &v1alpha1.SecretKeyRef{Name: secret}},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// update applies change to the latest copy of a binding, retrying conflicts.
func update(ctx context.Context, key client.ObjectKey, change func(*v1alpha1.PersonaBinding)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pb v1alpha1.PersonaBinding
		if err := k8s.Get(ctx, key, &pb); err != nil {
			return err
		}
		change(&pb)
		return k8s.Update(ctx, &pb)
	})
}

// converged reports whether every binding in ns has handled its generation and
// is Ready, and every persona carries exactly the numbers its bindings want.
func converged(ctx context.Context, ns string, personas []string) (bool, string) {
	var list v1alpha1.PersonaBindingList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return false, err.Error()
	}
	want := map[string]map[string]bool{}
	for _, p := range personas {
		want[p] = map[string]bool{}
	}
	var notReady []string
	for _, pb := range list.Items {
		if !pb.DeletionTimestamp.IsZero() {
			notReady = append(notReady, fmt.Sprintf("%s deleting (finalizers %v, annotations %v, status %+v)", pb.Name, pb.Finalizers, pb.Annotations, pb.Status))
			continue
		}
		ready := false
		for _, c := range pb.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True" && c.ObservedGeneration == pb.Generation)
		}
		if !ready || pb.Status.ObservedGeneration != pb.Generation {
			notReady = append(notReady, fmt.Sprintf("%s at generation %d: status %+v, annotations %v", pb.Name, pb.Generation, pb.Status, pb.Annotations))
		}
		for _, n := range pb.Spec.InboundNumbers {
			want[pb.Spec.PersonaID][n] = true
		}
	}
	if len(notReady) > 0 {
		return false, fmt.Sprintf("%d of %d bindings not Ready at their generation: %s", len(notReady), len(list.Items), strings.Join(notReady, "; "))
	}
	for _, p := range personas {
		got := sim.Attached(p)
		for _, n := range got {
			if !want[p][n] {
				return false, fmt.Sprintf("persona %s carries unwanted %s", p, n)
			}
		}
		if len(got) != len(want[p]) {
			return false, fmt.Sprintf("persona %s has %d numbers, bindings want %d", p, len(got), len(want[p]))
		}
	}
	return true, ""
}

// waitConverged polls until converged or the deadline, and returns how long it took.
func waitConverged(t *testing.T, ns string, personas []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < limit {
		var ok bool
		if ok, why = converged(context.Background(), ns, personas); ok {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not converged after %s: %s", limit, why)
	return 0
}

// report prints a figure in a form the closing notes can quote.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("REPORT %s: %s", t.Name(), fmt.Sprintf(format, args...))
}
