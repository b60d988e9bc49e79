package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/controller"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// The suite shares one API server, one simulator and one manager; each test
// works in its own namespace with its own Bland account and persona, so the
// simulator's history can be read per test.
var (
	cfg        *rest.Config
	k8s        client.Client
	scheme     = runtime.NewScheme()
	sim        *blandsim.Server
	simURL     string
	logs       syncBuffer
	reconciles reconcileLog
	mgrStop    func()
	reconciler *controller.PersonaReconciler
	// clock is the managers' clock: real time, plus what a test moves it on.
	clock  = &skewClock{}
	serial atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run these tests with `make integration` (it builds the control plane)")
		return 1
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(&logs), zap.UseDevMode(true)))
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	sim = blandsim.New()
	sim.NotFoundStatus = 200 // the API answers a missing persona with HTTP 200 and an errors list
	srv := httptest.NewServer(sim)
	defer srv.Close()
	simURL = srv.URL

	if mgrStop, err = startManager(); err != nil {
		fmt.Fprintln(os.Stderr, "starting manager:", err)
		return 1
	}
	code := m.Run()
	mgrStop()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "---- manager log tail ----")
		b := logs.Bytes()
		fmt.Fprintln(os.Stderr, string(b[max(0, len(b)-20000):]))
	}
	return code
}

// callTimeout is the suite's API timeout, and so the grace during which a
// call Bland never answered may still land: short, so tests of unanswered
// calls settle quickly.
const callTimeout = 3 * time.Second

// startManager runs a manager with a fresh reconciler, as a new process would.
func startManager() (func(), error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, err
	}
	blandClient, err := bland.New(bland.Options{BaseURL: simURL, AllowInsecure: true, QPS: 50, Burst: 50, Timeout: callTimeout,
		Observe: metrics.ObserveBlandCall, ObserveAccount: metrics.ObserveAccountCall})
	if err != nil {
		return nil, err
	}
	r := &controller.PersonaReconciler{
		Client:          mgr.GetClient(),
		APIReader:       mgr.GetAPIReader(),
		Bland:           unanswered.wrap(blandClient),
		Recorder:        mgr.GetEventRecorder("bland-operator"),
		AttachBatchSize: 100,
		CallGrace:       callTimeout,
		Clock:           clock,
		// A manager-wide default that no other test reaches: the detach-limit
		// test checks it applies, and that a binding's own 0 overrides it.
		DefaultDetachLimit: 50,
	}
	if err := r.SetupWithManager(mgr, controller.Options{SkipNameValidation: true, AfterReconcile: reconciles.record}); err != nil {
		return nil, err
	}
	reconciler = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// syncBuffer collects the manager's log for the secret-leak test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// reconcileLog counts finished reconciles per persona and keeps their errors.
type reconcileLog struct {
	mu     sync.Mutex
	counts map[string]int
	errs   []string
}

func (l *reconcileLog) record(req controller.Request, _ reconcile.Result, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[req.PersonaID]++
	if err != nil {
		l.errs = append(l.errs, err.Error())
	}
}

func (l *reconcileLog) count(personaID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[personaID]
}

func (l *reconcileLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// fixture is one test's namespace, Bland account and persona.
type fixture struct {
	t         *testing.T
	g         *WithT
	ns        string
	apiKey    string
	account   string
	personaID string
	numbers   []string // owned by the account
	id        int64
}

// newFixture makes a namespace, an account owning n numbers, a persona and a
// Secret "bland" holding the key under "apiKey".
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	id := serial.Add(1)
	f := &fixture{
		t: t, g: NewWithT(t), id: id,
		ns:        fmt.Sprintf("test-%d", id),
		apiKey:    fmt.Sprintf("sk-test-%d-%d", id, time.Now().UnixNano()),
		account:   fmt.Sprintf("acct-%d", id),
		personaID: fmt.Sprintf("persona-%d", id),
	}
	for i := range n {
		f.numbers = append(f.numbers, fmt.Sprintf("+1415%03d%04d", id%1000, i))
	}
	sim.AddAccount(f.account, f.apiKey, f.numbers...)
	sim.AddPersona(f.apiKey, f.personaID, "Persona "+f.personaID)
	f.g.Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})).To(Succeed())
	f.secret("bland", f.apiKey)
	return f
}

// foreign returns a number outside every account, unique to the fixture, so a
// repeated run (go test -count=n) never meets a binding of an earlier one.
func (f *fixture) foreign(i int) string {
	return fmt.Sprintf("+1999%03d%04d", f.id%1000, i)
}

// secret creates a Secret with the API key under "apiKey".
func (f *fixture) secret(name, value string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, StringData: map[string]string{"apiKey": value}}
	f.g.Expect(k8s.Create(context.Background(), s)).To(Succeed())
}

// binding returns a binding of the fixture's persona, not yet created.
func (f *fixture) binding(name string, numbers ...string) *v1alpha1.PersonaBinding {
	return &v1alpha1.PersonaBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1alpha1.PersonaBindingSpec{
			PersonaID:      f.personaID,
			InboundNumbers: append([]string{}, numbers...),
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
		},
	}
}

func (f *fixture) create(pb *v1alpha1.PersonaBinding) *v1alpha1.PersonaBinding {
	f.t.Helper()
	f.g.Expect(k8s.Create(context.Background(), pb)).To(Succeed())
	return pb
}

// get reads the binding again.
func (f *fixture) get(pb *v1alpha1.PersonaBinding) *v1alpha1.PersonaBinding {
	f.t.Helper()
	out := &v1alpha1.PersonaBinding{}
	f.g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), out)).To(Succeed())
	return out
}

// update applies change to the latest version of the binding.
func (f *fixture) update(pb *v1alpha1.PersonaBinding, change func(*v1alpha1.PersonaBinding)) {
	f.t.Helper()
	f.g.Eventually(func() error {
		cur := &v1alpha1.PersonaBinding{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur); err != nil {
			return err
		}
		change(cur)
		return k8s.Update(context.Background(), cur)
	}).Should(Succeed())
}

// waitFor waits until the binding's status describes its current generation
// and its Ready condition has the reason, and returns it.
func (f *fixture) waitFor(pb *v1alpha1.PersonaBinding, reason string) *v1alpha1.PersonaBinding {
	f.t.Helper()
	return f.waitForWithin(pb, reason, 20*time.Second)
}

// waitForWithin is waitFor with its own timeout.
func (f *fixture) waitForWithin(pb *v1alpha1.PersonaBinding, reason string, d time.Duration) *v1alpha1.PersonaBinding {
	f.t.Helper()
	var cur *v1alpha1.PersonaBinding
	f.g.Eventually(func(g Gomega) {
		cur = &v1alpha1.PersonaBinding{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur)).To(Succeed())
		g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
		ready := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(reason), ready.Message)
	}).WithTimeout(d).Should(Succeed())
	return cur
}

// requestResync sets the reconcile-requested-at annotation and waits until the
// operator handled it.
func (f *fixture) requestResync(pb *v1alpha1.PersonaBinding) {
	f.t.Helper()
	value := fmt.Sprint(time.Now().UnixNano())
	f.annotate(pb, v1alpha1.ReconcileRequestedAtAnnotation, value)
	f.g.Eventually(func(g Gomega) {
		g.Expect(f.get(pb).Status.LastHandledReconcileAt).To(Equal(value))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// annotate sets one annotation with a merge patch, as kubectl annotate does:
// a read-modify-write through the typed client would also rewrite defaulted
// spec fields (resyncInterval "10m" becomes "10m0s") and bump the generation.
func (f *fixture) annotate(pb *v1alpha1.PersonaBinding, key, value string) {
	f.t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	f.g.Expect(err).NotTo(HaveOccurred())
	target := &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{Namespace: pb.Namespace, Name: pb.Name}}
	f.g.Expect(k8s.Patch(context.Background(), target, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// calls returns the simulator calls for the fixture's persona after mark.
func (f *fixture) calls(mark int) []blandsim.Call {
	all := sim.CallsFor(f.personaID)
	return all[min(mark, len(all)):]
}

// mark is the number of calls made for the persona so far.
func (f *fixture) mark() int { return len(sim.CallsFor(f.personaID)) }

// kstatus computes the kstatus of the binding as Argo CD and Flux would.
func kstatus(g Gomega, pb *v1alpha1.PersonaBinding) status.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pb)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// skewClock is the real time moved forward by what tests add, so that a test
// can make resyncs due without waiting for them.
type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *skewClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *skewClock) Advance(d time.Duration)         { c.skew.Add(int64(d)) }
