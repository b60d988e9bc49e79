package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// harness holds the control plane, the simulator and the manager process.
type harness struct {
	k8s        client.WithWatch
	clientset  *kubernetes.Clientset
	kubeconfig string
	managerBin string
	// managerArgs are added to every manager's arguments (--manager-arg).
	managerArgs []string
	simURL      string
	sim         *blandsim.Server
	dir         string
	mgr         *managerProc
	groups      int
	// made counts the bindings of every group so far (floors excluded): the
	// manager watching everything sees that many after a restart.
	made int
	// createdAt is when each binding's create returned (namespace/name).
	createdAt sync.Map
}

type managerProc struct {
	cmd         *exec.Cmd
	metricsAddr string
	done        chan struct{}
}

// startManager runs the manager binary with metrics on plain HTTP, so that the
// harness can read its reconcile counters.
func (h *harness) startManager(args ...string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := ln.Addr().String()
	_ = ln.Close()
	logf, err := os.Create(filepath.Join(h.dir, fmt.Sprintf("manager-%d.log", time.Now().UnixNano())))
	check(err)
	base := []string{"--bland-api-url", h.simURL, "--allow-insecure-api-url", "--metrics-bind-address", addr,
		"--metrics-secure=false", "--health-probe-bind-address", "0", "--max-concurrent-reconciles", "16"}
	cmd := exec.Command(h.managerBin, append(append(base, h.managerArgs...), args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.kubeconfig)
	cmd.Stdout, cmd.Stderr = logf, logf
	check(cmd.Start())
	p := &managerProc{cmd: cmd, metricsAddr: addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(p.done) }()
	h.mgr = p
	waitUntil("the manager's metrics endpoint", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil
	})
}

func (h *harness) stopManager() {
	if h.mgr == nil {
		return
	}
	_ = h.mgr.cmd.Process.Signal(syscall.SIGTERM)
	<-h.mgr.done
	h.mgr = nil
}

// bindingsSeen is how many bindings the manager has reconciled since it
// started: every pass publishes each binding of its persona in
// bland_operator_bindings, quiet passes included. The reconcile count no
// longer says this, since the work queue is keyed by persona.
func (h *harness) bindingsSeen() float64 {
	resp, err := http.Get("http://" + h.mgr.metricsAddr + "/metrics")
	check(err)
	defer func() { _ = resp.Body.Close() }()
	return sumMetric(resp.Body, "bland_operator_bindings", nil)
}

// apiWrites counts the writes the API server served for PersonaBindings and
// Events (by anyone; the harness itself writes nothing while it measures).
func (h *harness) apiWrites() float64 {
	body, err := h.clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	check(err)
	total := 0.0
	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, res := range []string{"personabindings", "events"} {
			total += sumMetric(bytes.NewReader(body), "apiserver_request_total", map[string]string{"verb": verb, "resource": res})
		}
	}
	return total
}

// apiRequests counts the API server's requests so far by verb and resource,
// for the resources a reconcile touches.
func (h *harness) apiRequests() map[string]float64 {
	body, err := h.clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	check(err)
	out := map[string]float64{}
	for _, verb := range []string{"GET", "LIST", "POST", "PUT", "PATCH", "DELETE"} {
		for _, res := range []string{"personabindings", "secrets", "events", "namespaces", "clusterblandaccounts"} {
			if n := sumMetric(bytes.NewReader(body), "apiserver_request_total", map[string]string{"verb": verb, "resource": res}); n > 0 {
				out[verb+" "+res] = n
			}
		}
	}
	return out
}

// sumMetric parses a Prometheus text exposition and adds the samples of one
// counter or gauge whose labels have every wanted value.
func sumMetric(r io.Reader, name string, want map[string]string) float64 {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	check(err)
	total := 0.0
	for _, m := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range want {
			matches = matches && labels[k] == v
		}
		if matches {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// rssMiB reads the manager's resident set size.
func (h *harness) rssMiB() float64 {
	return float64(h.procStat().ResidentMemory()) / (1 << 20)
}

// cpuSeconds reads the manager's user and system CPU time.
func (h *harness) cpuSeconds() float64 {
	return h.procStat().CPUTime()
}

func (h *harness) procStat() procfs.ProcStat {
	p, err := procfs.NewProc(h.mgr.cmd.Process.Pid)
	check(err)
	stat, err := p.Stat()
	check(err)
	return stat
}

// group is a set of bindings made by the harness.
type group struct {
	name     string
	ns       string
	bindings []*v1alpha1.PersonaBinding
	personas []string // or, for a group of AgentBindings, its agents
	agents   bool
}

// makeGroup creates n bindings of two numbers each, perPersona bindings per
// persona, in a namespace of their own. With presynced, the numbers are
// attached in the simulator and the status written as in sync, as a running
// operator would have left them; the operator then has nothing to do.
func (h *harness) makeGroup(name string, n, perPersona int, resync time.Duration, presynced bool) *group {
	ctx := context.Background()
	g, key, numbers := h.newGroup(name, n)
	for p := 0; p*perPersona < n; p++ {
		id := fmt.Sprintf("%s-persona-%d", name, p)
		h.sim.AddPersona(key, id, id)
		g.personas = append(g.personas, id)
	}
	g.bindings = make([]*v1alpha1.PersonaBinding, n)
	parallel(n, 32, func(i int) {
		pb := &v1alpha1.PersonaBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", name, i), Namespace: g.ns},
			Spec: v1alpha1.PersonaBindingSpec{
				PersonaID:      g.personas[i/perPersona],
				InboundNumbers: []string{numbers[2*i], numbers[2*i+1]},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
				ResyncInterval: &metav1.Duration{Duration: resync},
			},
		}
		if presynced {
			h.sim.AttachOutOfBand(pb.Spec.PersonaID, pb.Spec.InboundNumbers...)
		}
		check(h.k8s.Create(ctx, pb))
		h.createdAt.Store(client.ObjectKeyFromObject(pb).String(), time.Now())
		if presynced {
			pb.Status = v1alpha1.PersonaBindingStatus{
				ObservedGeneration: pb.Generation,
				PersonaName:        pb.Spec.PersonaID,
				BoundNumbers:       pb.Spec.InboundNumbers,
				Summary:            "2/2",
				Numbers: []v1alpha1.NumberStatus{
					{Number: pb.Spec.InboundNumbers[0], State: v1alpha1.NumberAttached},
					{Number: pb.Spec.InboundNumbers[1], State: v1alpha1.NumberAttached},
				},
			}
			meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue,
				Reason: v1alpha1.ReasonSynced, Message: "2 numbers attached to persona " + pb.Spec.PersonaID, ObservedGeneration: pb.Generation})
			check(h.k8s.Status().Update(ctx, pb))
		}
		g.bindings[i] = pb
	})
	return g
}

// newGroup makes the namespace of a group of n bindings, a Bland account
// owning two numbers for each, and the Secret holding its key.
func (h *harness) newGroup(name string, n int) (g *group, key string, numbers []string) {
	ctx := context.Background()
	h.groups++
	h.made += n
	g = &group{name: name, ns: groupNamespace(name)}
	key = "sk-" + name
	for i := range 2 * n {
		numbers = append(numbers, fmt.Sprintf("+1%03d%07d", 200+h.groups, i))
	}
	h.sim.AddAccount(name, key, numbers...)
	check(h.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: g.ns}}))
	check(h.k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: g.ns}, StringData: map[string]string{"apiKey": key}}))
	return g, key, numbers
}

// groupNamespace is where makeGroup puts the bindings of a group.
func groupNamespace(name string) string { return "bench-" + name }

// callsOf counts simulator calls of an account, by endpoint.
func (h *harness) callsOf(account string) map[blandsim.Endpoint]int {
	out := map[blandsim.Endpoint]int{}
	for _, c := range h.sim.Calls(func(c blandsim.Call) bool { return c.Account == account }) {
		out[c.Endpoint]++
	}
	return out
}

func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// waitUntil polls cond every 50ms and exits the benchmark if it never holds.
func waitUntil(what string, limit time.Duration, cond func() bool) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			fmt.Fprintf(os.Stderr, "bench: %s did not happen within %s\n", what, limit)
			os.Exit(1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
