package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// agent registers an agent of the fixture's account and returns its ID.
func (f *fixture) agent(name string, o blandsim.AgentOptions) string {
	id := fmt.Sprintf("agent-%d-%s", f.id, name)
	sim.AddAgent(f.apiKey, id, o)
	return id
}

// agentBinding returns an AgentBinding, not yet created.
func (f *fixture) agentBinding(name, agentID string, env v1alpha1.AgentEnvironment, numbers ...string) *v1alpha1.AgentBinding {
	return &v1alpha1.AgentBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1alpha1.AgentBindingSpec{
			AgentID: agentID, Environment: env,
			InboundNumbers: append([]string{}, numbers...),
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
		},
	}
}

func (f *fixture) getAgentBinding(ab *v1alpha1.AgentBinding) *v1alpha1.AgentBinding {
	f.t.Helper()
	out := &v1alpha1.AgentBinding{}
	f.g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(ab), out)).To(Succeed())
	return out
}

// waitForAgent waits until the AgentBinding's status describes its
// generation with the Ready reason, and returns it.
func (f *fixture) waitForAgent(ab *v1alpha1.AgentBinding, reason string) *v1alpha1.AgentBinding {
	f.t.Helper()
	var cur *v1alpha1.AgentBinding
	f.g.Eventually(func(g Gomega) {
		cur = &v1alpha1.AgentBinding{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(ab), cur)).To(Succeed())
		g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
		ready := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(reason), ready.Message)
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return cur
}

// updateAgent applies change to the latest version of the AgentBinding.
func (f *fixture) updateAgent(ab *v1alpha1.AgentBinding, change func(*v1alpha1.AgentBinding)) {
	f.t.Helper()
	f.g.Eventually(func() error {
		cur := f.getAgentBinding(ab)
		change(cur)
		return k8s.Update(context.Background(), cur)
	}).Should(Succeed())
}

// requestAgentReconcile asks for a reconcile of the AgentBinding and waits
// until the operator handled it.
func (f *fixture) requestAgentReconcile(ab *v1alpha1.AgentBinding) {
	f.t.Helper()
	value := fmt.Sprint(time.Now().UnixNano())
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"`+v1alpha1.ReconcileRequestedAtAnnotation+`":"`+value+`"}}}`))
	f.g.Expect(k8s.Patch(context.Background(), &v1alpha1.AgentBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ab.Namespace, Name: ab.Name}}, patch)).To(Succeed())
	f.g.Eventually(func(g Gomega) {
		g.Expect(f.getAgentBinding(ab).Status.LastHandledReconcileAt).To(Equal(value))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// agentCalls are the simulator's v2 calls for an agent after mark.
func agentCalls(agentID string, mark int) []blandsim.Call {
	all := sim.CallsFor(agentID)
	return all[min(mark, len(all)):]
}

func callList(calls []blandsim.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, string(c.Endpoint)+" "+strings.Join(c.Numbers, ","))
	}
	return out
}

func TestAnAgentBindingRoutesItsNumbersThroughTheAgent(t *testing.T) {
	f := newFixture(t, 3)
	agent := f.agent("support", blandsim.AgentOptions{})
	ab := f.agentBinding("support", agent, "", f.numbers...)
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())

	got := f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.g.Expect(sim.AgentNumbers(agent)).To(Equal(map[string]string{f.numbers[0]: "production", f.numbers[1]: "production", f.numbers[2]: "production"}))
	f.g.Expect(got.Status.PersonaID).To(Equal(blandsim.AgentPersonaID(agent)), "the routing persona Bland reported")
	f.g.Expect(got.Status.CompiledFromVersion).To(Equal("1"))
	f.g.Expect(got.Status.BoundNumbers).To(ConsistOf(f.numbers))
	f.g.Expect(got.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	f.g.Expect(callList(agentCalls(agent, 0))).To(Equal([]string{"agent-attach " + strings.Join(f.numbers, ",")}), "a new binding costs one attach")

	// Dropping a number costs one v2 detach, never a v1 call to the routing persona.
	mark := len(sim.CallsFor(agent))
	f.updateAgent(ab, func(cur *v1alpha1.AgentBinding) { cur.Spec.InboundNumbers = f.numbers[:2] })
	got = f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.g.Expect(callList(agentCalls(agent, mark))).To(Equal([]string{"agent-detach " + f.numbers[2]}))
	f.g.Expect(sim.AgentNumbers(agent)).NotTo(HaveKey(f.numbers[2]))
	f.g.Expect(got.Status.BoundNumbers).To(ConsistOf(f.numbers[:2]))
	f.g.Expect(sim.CallsFor(blandsim.AgentPersonaID(agent))).To(BeEmpty(), "no v1 call to the routing persona")

	// A requested reconcile reads the agent and attaches its numbers again:
	// Bland compiles the newest saved version for them.
	sim.SaveAgentVersion(agent)
	mark = len(sim.CallsFor(agent))
	f.requestAgentReconcile(ab)
	f.g.Expect(callList(agentCalls(agent, mark))).To(Equal([]string{"agent-get ", "agent-attach " + strings.Join(f.numbers[:2], ",")}))
	f.g.Expect(f.waitForAgent(ab, v1alpha1.ReasonSynced).Status.CompiledFromVersion).To(Equal("2"))

	// Deleting detaches what it routed.
	f.g.Expect(k8s.Delete(context.Background(), ab)).To(Succeed())
	f.g.Eventually(func() map[string]string { return sim.AgentNumbers(agent) }).WithTimeout(20 * time.Second).Should(BeEmpty())
}

func TestANumberMovesBetweenThePersonaAndTheAgentWithOneAttach(t *testing.T) {
	f := newFixture(t, 2)
	agent := f.agent("move", blandsim.AgentOptions{})
	n := f.numbers[0]
	pb := f.create(f.binding("persona-side", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	// The younger AgentBinding lists n: the older PersonaBinding keeps it.
	// Creation times are whole seconds and a tie goes by name, so the
	// AgentBinding is created in a later second.
	time.Sleep(time.Until(f.get(pb).CreationTimestamp.Add(time.Second)))
	ab := f.agentBinding("agent-side", agent, "", n)
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	got := f.waitForAgent(ab, v1alpha1.ReasonNumberConflict)
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring("PersonaBinding " + f.ns + "/persona-side"))
	f.g.Expect(sim.Attached(f.personaID)).To(ContainElement(n))

	// The PersonaBinding drops n: one v2 attach moves it, with no detach on
	// either side in between.
	personaMark, agentMark := f.mark(), len(sim.CallsFor(agent))
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers[1:] })
	f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(sim.AgentNumbers(agent)).To(HaveKey(n))
	f.g.Expect(sim.Attached(f.personaID)).NotTo(ContainElement(n))
	f.g.Expect(callList(agentCalls(agent, agentMark))).To(Equal([]string{"agent-attach " + n}))
	for _, c := range f.calls(personaMark) {
		f.g.Expect(c.Endpoint).NotTo(Equal(blandsim.EndpointDetach), "the persona side never detaches a number handed to the agent")
	}
	f.g.Expect(f.get(pb).Status.BoundNumbers).NotTo(ContainElement(n))

	// And back: the AgentBinding drops it and the PersonaBinding lists it
	// again: one v1 attach moves it back.
	personaMark, agentMark = f.mark(), len(sim.CallsFor(agent))
	f.updateAgent(ab, func(cur *v1alpha1.AgentBinding) { cur.Spec.InboundNumbers = []string{} })
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers })
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Eventually(func() []string { return sim.Attached(f.personaID) }).Should(ConsistOf(f.numbers))
	f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.g.Expect(sim.AgentNumbers(agent)).To(BeEmpty())
	attaches := 0
	for _, c := range f.calls(personaMark) {
		if c.Endpoint == blandsim.EndpointAttach && slices.Contains(c.Numbers, n) {
			attaches++
		}
	}
	f.g.Expect(attaches).To(Equal(1))
	for _, c := range agentCalls(agent, agentMark) {
		f.g.Expect(c.Endpoint).NotTo(Equal(blandsim.EndpointAgentAttach))
	}
}

func TestAnAgentsAllOrNothingRefusalIsIsolated(t *testing.T) {
	f := newFixture(t, 2)
	agent := f.agent("refusal", blandsim.AgentOptions{})
	foreign := f.foreign(0)
	ab := f.agentBinding("with-foreign", agent, "", f.numbers[0], foreign, f.numbers[1])
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	got := f.waitForAgent(ab, v1alpha1.ReasonNumberNotOwned)
	f.g.Expect(sim.AgentNumbers(agent)).To(Equal(map[string]string{f.numbers[0]: "production", f.numbers[1]: "production"}))
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring(foreign))
	f.g.Expect(got.Status.BoundNumbers).To(ConsistOf(f.numbers))
}

func TestAnUnknownAgentStallsAndIsNotCalledAgainUntilAsked(t *testing.T) {
	f := newFixture(t, 2)
	agent := fmt.Sprintf("agent-%d-later", f.id) // not in Bland yet
	ab := f.agentBinding("early", agent, "", f.numbers[0])
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	got := f.waitForAgent(ab, v1alpha1.ReasonAgentNotFound)
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring("spec.agentID"))
	f.g.Expect(got.Status.PersonaID).To(BeEmpty(), "no routing persona until Bland names one")

	// The agent appears; a pass woken by another binding of the agent makes
	// no call for the stalled one.
	sim.AddAgent(f.apiKey, agent, blandsim.AgentOptions{})
	mark := len(sim.CallsFor(agent))
	other := f.agentBinding("other", agent, "", f.numbers[1])
	other.Spec.Suspend = true
	f.g.Expect(k8s.Create(context.Background(), other)).To(Succeed())
	f.waitForAgent(other, v1alpha1.ReasonSuspended)
	for _, c := range agentCalls(agent, mark) {
		f.g.Expect(c.Endpoint).NotTo(Equal(blandsim.EndpointAgentAttach), "no attach for a binding stalled on an unknown agent")
	}
	f.waitForAgent(ab, v1alpha1.ReasonAgentNotFound)

	f.requestAgentReconcile(ab)
	f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.g.Expect(sim.AgentNumbers(agent)).To(HaveKey(f.numbers[0]))
}

func TestAStagingRefusalStallsAndNeverFallsBackToProduction(t *testing.T) {
	f := newFixture(t, 1)
	agent := f.agent("staging", blandsim.AgentOptions{StagingRefusal: "AGENT_ENV_UNPINNED"})
	ab := f.agentBinding("staging", agent, v1alpha1.EnvironmentStaging, f.numbers[0])
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	got := f.waitForAgent(ab, v1alpha1.ReasonAgentRefused)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message
	f.g.Expect(msg).To(And(ContainSubstring("AGENT_ENV_UNPINNED"), ContainSubstring("publish to staging")))
	f.g.Expect(sim.AgentNumbers(agent)).To(BeEmpty(), "a staging refusal never falls back to production")

	sim.SetAgentOptions(agent, blandsim.AgentOptions{})
	f.requestAgentReconcile(ab)
	f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.g.Expect(sim.AgentNumbers(agent)).To(Equal(map[string]string{f.numbers[0]: "staging"}))
}

func TestAnAgentWithoutAVersionSaysSoUntilOneIsSaved(t *testing.T) {
	f := newFixture(t, 1)
	agent := f.agent("draft", blandsim.AgentOptions{NoVersions: true})
	ab := f.agentBinding("draft", agent, "", f.numbers[0])
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	got := f.waitForAgent(ab, v1alpha1.ReasonAgentRefused)
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring("NO_VERSIONS"))

	sim.SetAgentOptions(agent, blandsim.AgentOptions{})
	f.requestAgentReconcile(ab)
	got = f.waitForAgent(ab, v1alpha1.ReasonSynced)
	f.g.Expect(got.Status.CompiledFromVersion).To(Equal("1"))
}

func TestANumberTakenOffTheAgentIsPutBackAndTheEventSaysWhere(t *testing.T) {
	f := newFixture(t, 2)
	agent := f.agent("drift", blandsim.AgentOptions{})
	ab := f.agentBinding("drift", agent, "", f.numbers...)
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	f.waitForAgent(ab, v1alpha1.ReasonSynced)

	sim.AttachOutOfBand(f.personaID, f.numbers[0]) // someone routes it to a persona
	f.g.Expect(sim.AgentNumbers(agent)).NotTo(HaveKey(f.numbers[0]))
	f.requestAgentReconcile(ab)
	f.g.Eventually(func() map[string]string { return sim.AgentNumbers(agent) }).Should(HaveKey(f.numbers[0]))
	f.g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(f.ns))).To(Succeed())
		var notes []string
		for _, e := range evs.Items {
			if e.Reason == "DriftRepaired" && e.Regarding.Kind == "AgentBinding" && e.Regarding.Name == ab.Name {
				notes = append(notes, e.Note)
			}
		}
		g.Expect(strings.Join(notes, "\n")).To(ContainSubstring(f.numbers[0] + " was on persona " + f.personaID))
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

func TestTheAPIServerRejectsABadAgentBinding(t *testing.T) {
	f := newFixture(t, 1)
	tests := []struct {
		name   string
		mutate func(*v1alpha1.AgentBinding)
		field  string
	}{
		{"no agentID", func(ab *v1alpha1.AgentBinding) { ab.Spec.AgentID = "" }, "spec.agentID"},
		{"an agentID with a slash", func(ab *v1alpha1.AgentBinding) { ab.Spec.AgentID = "a/b" }, "spec.agentID"},
		{"an unknown environment", func(ab *v1alpha1.AgentBinding) { ab.Spec.Environment = "preview" }, "spec.environment"},
		{"a number not in E.164", func(ab *v1alpha1.AgentBinding) { ab.Spec.InboundNumbers = []string{"4155551234"} }, "spec.inboundNumbers[0]"},
		{"both credentials and an account", func(ab *v1alpha1.AgentBinding) { ab.Spec.AccountRef = &v1alpha1.AccountRef{Name: "a"} }, "exactly one of"},
	}
	for _, tt := range tests {
		ab := f.agentBinding("bad", "agent-x", "", f.numbers...)
		tt.mutate(ab)
		err := k8s.Create(context.Background(), ab)
		f.g.Expect(err).To(HaveOccurred(), tt.name)
		f.g.Expect(err.Error()).To(ContainSubstring(tt.field), tt.name)
	}

	ab := f.agentBinding("good", "agent-x", "", f.numbers...)
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	f.g.Expect(ab.Spec.Environment).To(Equal(v1alpha1.EnvironmentProduction), "the schema's default")
	err := k8s.Patch(context.Background(), ab, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"agentID":"agent-y"}}`)))
	f.g.Expect(err).To(HaveOccurred())
	f.g.Expect(err.Error()).To(ContainSubstring("agentID is immutable"))
}

func TestARestartCostsAnAgentNoCall(t *testing.T) {
	f := newFixture(t, 2)
	agent := f.agent("restart", blandsim.AgentOptions{})
	ab := f.agentBinding("restart", agent, "", f.numbers...)
	f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
	f.waitForAgent(ab, v1alpha1.ReasonSynced)

	target := "agent:" + agent + ":production"
	mark, passes := len(sim.CallsFor(agent)), reconciles.count(target)
	f.restartManager()
	// The new manager's first pass of the agent comes from its cache's
	// initial list; it finds the records true and makes no call.
	f.g.Eventually(func() int { return reconciles.count(target) }).WithTimeout(20 * time.Second).Should(BeNumerically(">", passes))
	f.g.Expect(callList(agentCalls(agent, mark))).To(BeEmpty())
	f.waitForAgent(ab, v1alpha1.ReasonSynced)
}

// One read of an agent serves both its environments: at a resync, a read
// for the production bindings that finds the staging numbers as recorded
// stands for the staging target's resync too. A staging number gone since
// is not taken on trust: staging reads for itself and puts it back.
func TestAnAgentsTwoEnvironmentsShareOneReadPerResync(t *testing.T) {
	f := newFixture(t, 2)
	agent := f.agent("envs", blandsim.AgentOptions{})
	prod := f.agentBinding("prod", agent, v1alpha1.EnvironmentProduction, f.numbers[0])
	stage := f.agentBinding("stage", agent, v1alpha1.EnvironmentStaging, f.numbers[1])
	for _, ab := range []*v1alpha1.AgentBinding{prod, stage} {
		ab.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
		f.g.Expect(k8s.Create(context.Background(), ab)).To(Succeed())
		f.waitForAgent(ab, v1alpha1.ReasonSynced)
	}
	// resync brings a pass of one binding's target once both resyncs are
	// due (an edit of its resync interval wakes it).
	resync := func(ab *v1alpha1.AgentBinding, interval time.Duration) {
		f.updateAgent(ab, func(cur *v1alpha1.AgentBinding) { cur.Spec.ResyncInterval = &metav1.Duration{Duration: interval} })
		f.waitForAgent(ab, v1alpha1.ReasonSynced)
	}
	reads := func(mark int) int {
		n := 0
		for _, c := range agentCalls(agent, mark) {
			if c.Endpoint == blandsim.EndpointAgentGet {
				n++
			}
		}
		return n
	}

	mark := len(sim.CallsFor(agent))
	clock.Advance(time.Minute + time.Second)
	resync(prod, 31*time.Second)
	resync(stage, 31*time.Second)
	f.g.Expect(reads(mark)).To(Equal(1), "calls: %v", callList(agentCalls(agent, mark)))

	sim.AttachOutOfBand(f.personaID, f.numbers[1]) // staging's number goes elsewhere
	mark = len(sim.CallsFor(agent))
	clock.Advance(time.Minute + time.Second)
	resync(prod, 32*time.Second)
	resync(stage, 32*time.Second)
	f.g.Eventually(func() map[string]string { return sim.AgentNumbers(agent) }).Should(HaveKeyWithValue(f.numbers[1], "staging"))
	f.g.Expect(reads(mark)).To(Equal(2), "calls: %v", callList(agentCalls(agent, mark)))
}
