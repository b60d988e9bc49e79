package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	blandclient "github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/persona"
	"github.com/bland-operator/bland-operator/internal/preview"
)

// agentInSync creates an AgentBinding and writes its status as the
// operator would once it holds its numbers.
func agentInSync(t *testing.T, ns, name, agent string, env v1alpha1.AgentEnvironment, limit *int32, numbers ...string) {
	t.Helper()
	ctx := context.Background()
	ab := &v1alpha1.AgentBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{v1alpha1.Finalizer}},
		Spec: v1alpha1.AgentBindingSpec{AgentID: agent, Environment: env, InboundNumbers: numbers, DetachLimit: limit,
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
	}
	must(t, k8s.Create(ctx, ab))
	ab.Status.ObservedGeneration, ab.Status.BoundNumbers, ab.Status.PersonaID = ab.Generation, numbers, "routing-"+agent
	meta.SetStatusCondition(&ab.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonSynced, Message: "in sync", ObservedGeneration: ab.Generation})
	must(t, k8s.Status().Update(ctx, ab))
}

func agentBinding(ns, name, agent, extra string, numbers ...string) string {
	return fmt.Sprintf(`apiVersion: personas.bland-operator.dev/v1alpha1
kind: AgentBinding
metadata:
  name: %s
  namespace: %s
spec:
  agentID: %s
  credentialsRef: {name: bland}
  inboundNumbers: ["%s"]
%s`, name, ns, agent, strings.Join(numbers, `", "`), extra)
}

// TestPlanCoversAgentBindings plans a commit that moves a number from a
// PersonaBinding to a new AgentBinding, adds a staging AgentBinding, trips
// an AgentBinding's detach limit and holds a refused AgentBinding: each
// agent and environment is planned on its own, the number moved is not
// detached (the agent's attach takes it), the approval names the ab
// resource, the refused input names its kind, and nothing is written.
func TestPlanCoversAgentBindings(t *testing.T) {
	const ns = "plan-ab"
	const a1, a2, a3, a4, a5, a6 = "+14155554001", "+14155554002", "+14155554003", "+14155554004", "+14155554005", "+14155554006"
	namespace(t, ns)
	inSync(t, ns, "desk", nil, a1, a2)
	agentInSync(t, ns, "guarded", "agent-g", "", limitOf(1), a5, a6)
	file := manifest(t,
		binding(ns, "desk", "", a1),
		agentBinding(ns, "line", "agent-9", "", a2, a3),
		agentBinding(ns, "trial", "agent-9", "  environment: staging\n", a4),
		agentBinding(ns, "guarded", "agent-g", "  detachLimit: 1\n", "+14155554009"),
		agentBinding(ns, "bad", "agent 9!", "", "+14155554010"),
	)
	before := writes(t)

	out, errOut, code := plan(t, adminKube, "-f", file)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (an input is refused); stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	if !strings.Contains(errOut, "AgentBinding plan-ab/bad: would be rejected") {
		t.Errorf("the refused AgentBinding is not named by its kind:\n%s", errOut)
	}
	for _, want := range []string{
		"persona persona-plan-ab: ",
		"> moves " + a2 + " to AgentBinding plan-ab/line: its attach takes it, no detach",
		"agent agent-9 (production): ",
		"  ab/plan-ab/line (new, generation 1)",
		"+ attach " + a2,
		"+ attach " + a3,
		"agent agent-9 (staging): ",
		"  ab/plan-ab/trial (new, generation 1)",
		"+ attach " + a4,
		"agent agent-g (production): ",
		"wait for approval: kubectl annotate ab -n plan-ab guarded " + v1alpha1.ApproveDetachAnnotation + "=" + persona.ApprovalFor(2, []string{a5, a6}) + " --overwrite",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "- detach "+a2) {
		t.Errorf("a number moving to an AgentBinding is detached from the persona first:\n%s", out)
	}

	js, _, _ := plan(t, adminKube, "-f", file, "-o", "json")
	var rep preview.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	targets := map[string]preview.PersonaReport{}
	for _, p := range rep.Personas {
		targets[p.ID] = p
	}
	staging := targets[persona.AgentTarget("agent-9", v1alpha1.EnvironmentStaging)]
	if staging.Agent != "agent-9" || staging.Environment != "staging" || len(staging.Bindings) != 1 || staging.Bindings[0].Kind != "AgentBinding" {
		t.Errorf("the staging target in JSON: %+v", staging)
	}
	if desk := targets["persona-"+ns]; len(desk.Bindings) != 1 || desk.Bindings[0].Kind != "PersonaBinding" ||
		len(desk.Bindings[0].MovedOut) != 1 || desk.Bindings[0].MovedOut[0].Binding != "AgentBinding/plan-ab/line" {
		t.Errorf("the persona's plan in JSON: %+v", desk)
	}

	if after := writes(t); after != before {
		t.Errorf("the plan made %v persisted writes", after-before)
	}
	var abs v1alpha1.AgentBindingList
	must(t, k8s.List(context.Background(), &abs, client.InNamespace(ns)))
	for _, ab := range abs.Items {
		if ab.Name == "line" || ab.Name == "trial" {
			t.Errorf("the plan created AgentBinding %s", ab.Name)
		}
	}
}

// TestPlanRefreshReadsAnAgentOnce: with --refresh an agent's numbers are
// read with one v2 read for both its environments, and a number taken off
// the agent shows as an attach the records would not predict.
func TestPlanRefreshReadsAnAgentOnce(t *testing.T) {
	const ns, key = "plan-ab-r", "sk-plan-agent"
	const r1, r2, r3 = "+14155554101", "+14155554102", "+14155554103"
	sim := blandsim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	sim.AddAccount("plan-agent", key, r1, r2, r3)
	sim.AddAgent(key, "agent-r", blandsim.AgentOptions{})
	c, err := blandclient.New(blandclient.Options{BaseURL: srv.URL, AllowInsecure: true})
	must(t, err)
	_, err = c.AttachToAgent(context.Background(), key, "agent-r", "production", []string{r1}) // r2 was taken off
	must(t, err)
	_, err = c.AttachToAgent(context.Background(), key, "agent-r", "staging", []string{r3})
	must(t, err)
	setup := len(sim.History())
	namespace(t, ns)
	must(t, k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bland"}, StringData: map[string]string{"apiKey": key}}))
	agentInSync(t, ns, "line", "agent-r", "", nil, r1, r2)
	agentInSync(t, ns, "trial", "agent-r", v1alpha1.EnvironmentStaging, nil, r3)
	path := manifest(t, agentBinding(ns, "line", "agent-r", "", r1, r2), agentBinding(ns, "trial", "agent-r", "  environment: staging\n", r3))

	if out, errOut, code := plan(t, adminKube, "-f", path); code != 0 {
		t.Fatalf("from the records: exit %d, want 0\n%s%s", code, out, errOut)
	}
	out, errOut, code := plan(t, adminKube, "-f", path, "--refresh", "--api-url", srv.URL, "--allow-insecure-api-url")
	if code != 3 || !strings.Contains(out, "+ attach "+r2) || strings.Contains(out, "+ attach "+r3) ||
		!strings.Contains(out, "planned from a fresh read of agent agent-r (production)") || !strings.Contains(out, "planned from a fresh read of agent agent-r (staging)") {
		t.Fatalf("with --refresh: exit %d, want 3 attaching %s\nstdout:\n%s\nstderr:\n%s", code, r2, out, errOut)
	}
	calls := sim.History()[setup:]
	if len(calls) != 1 || calls[0].Endpoint != blandsim.EndpointAgentGet {
		t.Fatalf("Bland saw %+v, want one agent read", calls)
	}
}
