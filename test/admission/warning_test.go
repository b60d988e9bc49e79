// Package admission checks the detach warning policy (config/admission) on a
// real API server: the warning reaches client-go and kubectl at apply time.
package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

var (
	root     = filepath.Join("..", "..")
	cfg      *rest.Config
	warnings = &recorder{}
	k8s      client.Client
	kubecfg  string
	kubectl  string
)

// recorder keeps the warnings the API server sent.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) HandleWarningHeader(_ int, _ string, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, text)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run with make integration")
		return 1
	}
	kubectl = filepath.Join(assets, "kubectl")
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg.WarningHandler = warnings
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	u, err := env.AddUser(envtest.User{Name: "admission-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := u.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "bland-admission-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubecfg = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubecfg, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := installPolicy(); err != nil {
		fmt.Fprintln(os.Stderr, "installing the policy:", err)
		return 1
	}
	return m.Run()
}

// installPolicy creates what config/admission holds, as written.
func installPolicy() error {
	b, err := os.ReadFile(filepath.Join(root, "config", "admission", "detach_warning.yaml"))
	if err != nil {
		return err
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := k8s.Create(context.Background(), u); err != nil {
			return err
		}
	}
}

const n1, n2, n3 = "+14155550001", "+14155550002", "+14155550003"

// holding creates a binding whose status says it holds numbers.
func holding(t *testing.T, name string, limit int32, numbers ...string) *v1alpha1.PersonaBinding {
	t.Helper()
	ctx := context.Background()
	pb := &v1alpha1.PersonaBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.PersonaBindingSpec{PersonaID: "persona-" + name, InboundNumbers: numbers, DetachLimit: &limit,
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
	}
	if err := k8s.Create(ctx, pb); err != nil {
		t.Fatal(err)
	}
	pb.Status = v1alpha1.PersonaBindingStatus{ObservedGeneration: pb.Generation, BoundNumbers: numbers}
	if err := k8s.Status().Update(ctx, pb); err != nil {
		t.Fatal(err)
	}
	return pb
}

// dropTo makes an edit leaving only keep, as a dry run (the policy warns on
// dry runs too), and returns the warnings.
func dropTo(t *testing.T, pb *v1alpha1.PersonaBinding, dryRun bool, keep ...string) []string {
	t.Helper()
	cur := &v1alpha1.PersonaBinding{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.InboundNumbers = append([]string{}, keep...)
	var opts []client.UpdateOption
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	warnings.take()
	if err := k8s.Update(context.Background(), cur, opts...); err != nil {
		t.Fatal(err)
	}
	return warnings.take()
}

func TestDroppingMoreThanTheDetachLimitWarnsAtApplyTime(t *testing.T) {
	pb := holding(t, "limited", 2, n1, n2, n3)
	want := "drops 3 owned numbers; detach limit 2: the binding will wait for personas.bland-operator.dev/approve-detach=2:<digest of the numbers> (kubectl bland approve writes it)"
	// The API server loads a new policy in the background: look until it
	// answers (each look is a dry run, which changes nothing).
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = dropTo(t, pb, true); len(got) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond) // the policy's informer has not caught up
	}
	// The API server prefixes the policy's message with the policy's name.
	if len(got) != 1 || !strings.HasSuffix(got[0], ": "+want) {
		t.Fatalf("warnings %q, want one ending in %q", got, want)
	}
	if got := dropTo(t, pb, true, n1, n2); len(got) != 0 {
		t.Errorf("dropping 1 of 3 with a limit of 2 warned: %q", got)
	}

	// kubectl shows it on apply --dry-run=server (and so on apply and diff).
	manifest := `{"apiVersion":"personas.bland-operator.dev/v1alpha1","kind":"PersonaBinding","metadata":{"name":"limited","namespace":"default"},
"spec":{"personaID":"persona-limited","inboundNumbers":[],"detachLimit":2,"credentialsRef":{"name":"bland"}}}`
	cmd := exec.Command(kubectl, "--kubeconfig", kubecfg, "apply", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Warning: ") || !strings.Contains(string(out), want) {
		t.Errorf("kubectl apply --dry-run=server (%v): %q", err, out)
	}

	// The edit itself goes through: the warning holds nothing back, and
	// the generation it named is the one the binding now has.
	if got := dropTo(t, pb, false); len(got) != 1 {
		t.Errorf("the edit itself: warnings %q", got)
	}
	cur := &v1alpha1.PersonaBinding{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur); err != nil || cur.Generation != 2 || len(cur.Spec.InboundNumbers) != 0 {
		t.Errorf("after the edit: generation %d, numbers %v (%v)", cur.Generation, cur.Spec.InboundNumbers, err)
	}
}

func TestAnApprovalForTheNextGenerationSilencesTheWarning(t *testing.T) {
	pb := holding(t, "approved", 1, n1, n2)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(dropTo(t, pb, true)) == 0 {
		time.Sleep(200 * time.Millisecond) // the policy's informer has not caught up
	}
	cur := &v1alpha1.PersonaBinding{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.InboundNumbers = []string{}
	// Both forms: the generation with the numbers' digest, and the
	// generation alone that earlier releases wrote.
	for _, approval := range []string{persona.ApprovalFor(cur.Generation+1, []string{n1, n2}), fmt.Sprint(cur.Generation + 1)} {
		cur.Annotations = map[string]string{v1alpha1.ApproveDetachAnnotation: approval}
		warnings.take()
		if err := k8s.Update(context.Background(), cur, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if got := warnings.take(); len(got) != 0 {
			t.Errorf("an approval %q of the generation the edit gets still warned: %q", approval, got)
		}
	}
}
