// Package plugin runs the kubectl-bland binary, as a user runs it, against a
// real API server (envtest) holding the CRDs and live bindings.
package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
	"github.com/bland-operator/bland-operator/internal/preview"
)

var (
	root      = filepath.Join("..", "..")
	plugin    string
	adminKube string
	readKube  string
	k8s       client.Client
	adminCfg  *rest.Config
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bland-plugin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	plugin = filepath.Join(dir, "kubectl-bland")
	build := exec.Command("go", "build", "-o", plugin, "./cmd/kubectl-bland")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		return 1
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	if adminCfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if k8s, err = client.New(adminCfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for name, user := range map[*string]envtest.User{
		&adminKube: {Name: "plan-admin", Groups: []string{"system:masters"}},
		&readKube:  {Name: "plan-reader"},
	} {
		u, err := env.AddUser(user, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		kc, err := u.KubeConfig()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*name = filepath.Join(dir, user.Name+".kubeconfig")
		if err := os.WriteFile(*name, kc, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

const n1, n2, n3, n4, n5 = "+14155550001", "+14155550002", "+14155550003", "+14155550004", "+14155550005"

// inSync creates a binding and writes its status as the operator would
// once it holds its numbers.
func inSync(t *testing.T, ns, name string, limit *int32, numbers ...string) *v1alpha1.PersonaBinding {
	// Each test has a namespace, and its bindings a persona, of their own.
	t.Helper()
	ctx := context.Background()
	pb := &v1alpha1.PersonaBinding{
		// The operator writes the finalizer once a Detach binding holds numbers.
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{v1alpha1.Finalizer}},
		Spec: v1alpha1.PersonaBindingSpec{PersonaID: "persona-" + ns, InboundNumbers: numbers, DetachLimit: limit,
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
	}
	must(t, k8s.Create(ctx, pb))
	pb.Status = v1alpha1.PersonaBindingStatus{ObservedGeneration: pb.Generation, BoundNumbers: numbers, PersonaName: pb.Spec.PersonaID}
	meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonSynced, Message: "in sync", ObservedGeneration: pb.Generation})
	must(t, k8s.Status().Update(ctx, pb))
	return pb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// manifest writes bindings as a user's YAML would hold them.
func manifest(t *testing.T, docs ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bindings.yaml")
	must(t, os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o600))
	return path
}

func binding(ns, name, extra string, numbers ...string) string {
	return fmt.Sprintf(`apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata:
  name: %s
  namespace: %s
spec:
  personaID: persona-%s
  credentialsRef: {name: bland}
  inboundNumbers: ["%s"]
%s`, name, ns, ns, strings.Join(numbers, `", "`), extra)
}

// plan runs the plugin and returns its output and exit status.
func plan(t *testing.T, kubeconfig string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(plugin, append([]string{"plan", "--kubeconfig", kubeconfig, "--no-color"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// writes counts the API server's persisted (not dry-run) writes to
// PersonaBindings so far.
func writes(t *testing.T) float64 {
	t.Helper()
	cs, err := rest.RESTClientFor(withCodec(adminCfg))
	must(t, err)
	body, err := cs.Get().AbsPath("/metrics").DoRaw(context.Background())
	must(t, err)
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="personabindings"`) || !strings.Contains(line, `dry_run=""`) {
			continue
		}
		for _, verb := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`} {
			if strings.Contains(line, verb) {
				var v float64
				_, _ = fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &v)
				total += v
			}
		}
	}
	return total
}

func withCodec(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	return c
}

func namespace(t *testing.T, name string) {
	t.Helper()
	must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

func limitOf(n int32) *int32 { return &n }

// grantPlanReader lets the user plan-reader get and list PersonaBindings,
// and nothing else (no dry runs, no Secrets).
func grantPlanReader(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "plan-reader"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"personabindings"}, Verbs: []string{"get", "list"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "plan-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "plan-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "plan-reader"}}}
	for _, obj := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// TestPlanShowsAttachDetachHandoverAndTheGuardWithoutWriting plans a commit
// that moves a number between bindings, adds and drops numbers, and trips a
// detach limit, and checks the marks, the predicted approval generation,
// the exit status, the JSON form, and that nothing was written.
func TestPlanShowsAttachDetachHandoverAndTheGuardWithoutWriting(t *testing.T) {
	namespace(t, "team-a")
	a := inSync(t, "team-a", "a", nil, n1, n2)
	inSync(t, "team-a", "b", nil, n3)
	inSync(t, "team-a", "guarded", limitOf(1), n4, n5)
	file := manifest(t,
		binding("team-a", "a", "", n1),
		binding("team-a", "b", "", n2, n3),
		binding("team-a", "guarded", "  detachLimit: 1\n", "+14155550009"),
		binding("team-a", "new", "", "+14155550010"),
	)
	before := writes(t)
	rvBefore := a.ResourceVersion

	out, errOut, code := plan(t, adminKube, "-f", file)
	if code != 4 {
		t.Fatalf("exit %d, want 4 (a detach limit trips); stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"> handover " + n2 + " to team-a/b (no call)",
		"< handover " + n2 + " from team-a/a (no call)",
		"+ attach +14155550009",
		"+ attach +14155550010",
		"team-a/new (new, generation 1)",
		// the guarded binding's spec changes, so the approval names generation 2
		"! guard: 2 detaches (" + n4 + ", " + n5 + ") over the detach limit of 1 wait for approval: kubectl annotate pb -n team-a guarded " + v1alpha1.ApproveDetachAnnotation + "=" + persona.ApprovalFor(2, []string{n4, n5}) + " --overwrite",
		"= Ready False DetachLimitExceeded",
		"Plan: 4 bindings to change",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "- detach "+n2) {
		t.Errorf("a number moved between bindings is detached:\n%s", out)
	}

	js, _, code := plan(t, adminKube, "-f", file, "-o", "json", "--exit-code=false")
	var rep struct {
		FormatVersion string `json:"formatVersion"`
		Summary       struct {
			Handovers int `json:"handovers"`
			Stalls    int `json:"bindingsThatWouldStall"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || code != 0 {
		t.Fatalf("json (exit %d): %v\n%s", code, err, js)
	}
	if rep.FormatVersion != preview.FormatVersion || rep.Summary.Handovers != 1 || rep.Summary.Stalls != 1 {
		t.Errorf("json report %+v", rep)
	}

	if after := writes(t); after != before {
		t.Errorf("the plan made %v persisted writes to PersonaBindings", after-before)
	}
	var still v1alpha1.PersonaBinding
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(a), &still))
	if still.ResourceVersion != rvBefore {
		t.Errorf("binding a changed: resourceVersion %s -> %s", rvBefore, still.ResourceVersion)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "new"}, &still); err == nil {
		t.Error("the new binding was created")
	}
}

// An unchanged manifest exits 0; one the API server refuses exits 2.
func TestPlanExitStatuses(t *testing.T) {
	namespace(t, "team-b")
	const b1 = "+14155551001" // numbers are global: each test has its own
	inSync(t, "team-b", "a", nil, b1)
	if out, errOut, code := plan(t, adminKube, "-f", manifest(t, binding("team-b", "a", "", b1))); code != 0 {
		t.Errorf("an unchanged binding: exit %d, want 0\n%s%s", code, out, errOut)
	}
	if out, errOut, code := plan(t, adminKube, "-f", manifest(t, binding("team-b", "a", "", "not-a-number"))); code != 2 || !strings.Contains(errOut, "would be rejected") {
		t.Errorf("an invalid number: exit %d, want 2\n%s%s", code, out, errOut)
	}
	if _, errOut, code := plan(t, adminKube); code != 1 || !strings.Contains(errOut, "-f or -k") {
		t.Errorf("no manifests: exit %d, want 1: %s", code, errOut)
	}
}

// A user who may read PersonaBindings but not write them (nor list
// AgentBindings) still gets a plan, made from the manifest as written, and
// is told the dry run was not performed and the AgentBindings not seen.
func TestPlanWithoutWriteVerbsSaysTheDryRunWasNotPerformed(t *testing.T) {
	namespace(t, "team-c")
	const c1, c2 = "+14155552001", "+14155552002"
	inSync(t, "team-c", "a", nil, c1, c2)
	grantPlanReader(t)
	out, errOut, code := plan(t, readKube, "-f", manifest(t, binding("team-c", "a", "", c1)))
	if code != 3 || !strings.Contains(out, "- detach "+c2) || !strings.Contains(errOut, "dry run not performed") ||
		!strings.Contains(errOut, "AgentBindings could not be listed (forbidden)") {
		t.Errorf("exit %d, want 3 with a detach and two notes\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// BenchmarkPlanOf100Bindings times kubectl bland plan, the binary, on a
// manifest that edits 100 live bindings of 10 personas (dry runs, the list,
// the plan, the output). The target is 2 s per plan.
func BenchmarkPlanOf100Bindings(b *testing.B) { benchPlan(b, 100, 10, 100) }

// BenchmarkPlanOf1000BindingsOn100Personas (P12) times a pull request's plan
// on a repository of 1,000 bindings of 100 personas, 10 of them edited: the
// unchanged ones need no dry run. The target is 3 s per plan.
func BenchmarkPlanOf1000BindingsOn100Personas(b *testing.B) { benchPlan(b, 1000, 100, 10) }

// BenchmarkPlanOf1000BindingsAllEdited is P12's worst case: every one of the
// 1,000 bindings edited, a dry run each.
func BenchmarkPlanOf1000BindingsAllEdited(b *testing.B) { benchPlan(b, 1000, 100, 1000) }

var benchRuns int

// benchPlan puts n live bindings of the given number of personas in place
// (in sync, two numbers each) and times the plan of a manifest that holds
// them all, the first edited of them moving their second number.
func benchPlan(b *testing.B, n, personas, edited int) {
	benchRuns++ // numbers are global: each run has its own
	ctx := context.Background()
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano()%1_000_000)
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	var docs []string
	for i := range n {
		name := fmt.Sprintf("b-%04d", i)
		number := func(k int) string { return fmt.Sprintf("+1%03d555%04d", 600+benchRuns, i*3+k) }
		personaID := fmt.Sprintf("persona-%s-%d", ns, i%personas)
		pb := &v1alpha1.PersonaBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.PersonaBindingSpec{PersonaID: personaID, InboundNumbers: []string{number(0), number(1)},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
		}
		if err := k8s.Create(ctx, pb); err != nil {
			b.Fatal(err)
		}
		pb.Status = v1alpha1.PersonaBindingStatus{ObservedGeneration: 1, BoundNumbers: pb.Spec.InboundNumbers, PersonaName: personaID}
		meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonSynced, Message: "in sync", ObservedGeneration: 1})
		if err := k8s.Status().Update(ctx, pb); err != nil {
			b.Fatal(err)
		}
		second := number(1)
		if i < edited {
			second = number(2)
		}
		doc := strings.ReplaceAll(binding(ns, name, "", number(0), second), "personaID: persona-"+ns, "personaID: "+personaID)
		docs = append(docs, doc)
	}
	path := filepath.Join(b.TempDir(), "bindings.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	want := fmt.Sprintf("Plan: %d bindings to change", edited)
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(plugin, "plan", "--kubeconfig", adminKube, "--no-color", "--exit-code=false", "-f", path)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), want) {
			b.Fatalf("%v\n%s", err, out[max(0, len(out)-2000):])
		}
	}
}
