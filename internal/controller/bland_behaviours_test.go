package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// These tests cover what Bland does beyond the calls the operator makes:
// for each, what the user sees, and that nothing loops afterwards (a
// resync costs a fixed number of calls).

// warnings returns the notes of the namespace's events with this reason.
func (f *fixture) warnings(reason string) []string {
	var evs eventsv1.EventList
	f.g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(f.ns))).To(Succeed())
	var out []string
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}

func TestANumberAnAgentTookIsReportedWithWhereItWentAndTakenBack(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.create(f.binding("agent-victim", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	// Bland's agent API moves the number to the persona it keeps for the agent.
	body, _ := json.Marshal(map[string][]string{"inbound_numbers": {f.numbers[0]}})
	agent := fmt.Sprintf("agent-%d", f.id)
	sim.AddAgent(f.apiKey, agent, blandsim.AgentOptions{})
	req, err := http.NewRequest(http.MethodPost, simURL+"/v2/agents/"+agent+"/inbound/attach", bytes.NewReader(body))
	f.g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("authorization", f.apiKey)
	resp, err := http.DefaultClient.Do(req)
	f.g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	f.g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[1]}))

	f.requestResync(pb)
	f.g.Eventually(func() []string { return sim.Attached(f.personaID) }).Should(Equal(f.numbers))
	f.g.Expect(sim.Attached(blandsim.AgentPersonaID(agent))).To(BeEmpty())
	f.g.Eventually(func() string { return strings.Join(f.warnings("DriftRepaired"), "\n") }).WithTimeout(10 * time.Second).
		Should(ContainSubstring(f.numbers[0] + " was on persona " + blandsim.AgentPersonaID(agent)))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	// Once repaired, a resync is one read.
	mark := f.mark()
	f.requestResync(pb)
	f.g.Expect(endpoints(f.calls(mark))).To(Equal([]blandsim.Endpoint{blandsim.EndpointGet}))
	f.g.Expect(f.warnings("DriftRepaired")).To(HaveLen(1))
}

func TestAPersonaDeletedWithForceStallsItsBindingsWhichCanStillBeDeleted(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.create(f.binding("persona-gone", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	direct, err := bland.New(bland.Options{BaseURL: simURL, AllowInsecure: true, QPS: 50, Burst: 50})
	f.g.Expect(err).NotTo(HaveOccurred())

	// Without force, Bland refuses and names the numbers in use.
	err = direct.DeletePersona(context.Background(), f.apiKey, f.personaID, false)
	be, ok := bland.AsError(err)
	f.g.Expect(ok).To(BeTrue(), "%v", err)
	f.g.Expect(be.Code).To(Equal("PERSONA_IN_USE"))
	f.g.Expect(be.Details["phone_numbers_using"]).To(ConsistOf(f.numbers[0], f.numbers[1]))
	f.g.Expect(err.Error()).NotTo(ContainSubstring(f.apiKey))

	// With force the persona goes and its numbers are left with none.
	f.g.Expect(direct.DeletePersona(context.Background(), f.apiKey, f.personaID, true)).To(Succeed())
	f.requestResync(pb)
	got := f.waitFor(pb, v1alpha1.ReasonPersonaNotFound)
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	f.g.Expect(ready.Status).To(BeEquivalentTo("False"))
	f.g.Expect(ready.Message).To(ContainSubstring("does not exist"))
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())

	// A resync is one read; a change to the spec calls nothing it cannot.
	mark := f.mark()
	f.requestResync(pb)
	f.g.Expect(endpoints(f.calls(mark))).To(Equal([]blandsim.Endpoint{blandsim.EndpointGet}))

	// Bland's answer means "not found or access denied": it is no proof
	// that the numbers are gone, so deleting the binding waits, says how to
	// release it, and lets go once a person chooses Orphan.
	f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
	f.g.Eventually(func(g Gomega) {
		cur := f.get(pb)
		g.Expect(cur.Finalizers).To(ContainElement(v1alpha1.Finalizer))
		g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonPersonaNotFound))
		g.Expect(readyMessage(cur)).To(ContainSubstring("deletionPolicy: Orphan"))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
	f.g.Eventually(func() bool { return gone(pb) }).WithTimeout(20 * time.Second).Should(BeTrue())
}

func TestAKeyWhoseRoleMayOnlyReadStallsWithTheRoleNamed(t *testing.T) {
	f := newFixture(t, 1)
	sim.SetKeyRole(f.apiKey, "viewer")
	pb := f.create(f.binding("read-only", f.numbers[0]))
	got := f.waitFor(pb, v1alpha1.ReasonUnauthorized)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message
	f.g.Expect(msg).To(ContainSubstring("HTTP 403"))
	f.g.Expect(msg).To(ContainSubstring("role"))
	f.g.Expect(msg).NotTo(ContainSubstring(f.apiKey))
	f.g.Expect(got.Status.BoundNumbers).To(BeEmpty(), "a number Bland refused to attach was kept in the record")
	f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())

	// A resync tries once more, and writes no new status.
	mark, version := f.mark(), got.ResourceVersion
	f.requestResync(pb)
	f.g.Expect(len(f.calls(mark))).To(BeNumerically("<=", 2), "%v", endpoints(f.calls(mark)))
	after := f.get(pb)
	f.g.Expect(readyReasonOf(after)).To(Equal(v1alpha1.ReasonUnauthorized))
	f.g.Expect(after.ResourceVersion).NotTo(Equal(version)) // the annotation and its handling
	f.g.Expect(after.Status.Conditions).To(Equal(got.Status.Conditions))

	// Given a role that may write, the next resync attaches.
	sim.SetKeyRole(f.apiKey, "admin")
	f.requestResync(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
}

func TestTheOrganizationRateLimitSlowsTheOperatorButItConverges(t *testing.T) {
	f := newFixture(t, 4)
	sim.SetOrgRateLimit(f.account, 1)
	defer sim.SetOrgRateLimit(f.account, 0)
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range sim.Calls(func(c blandsim.Call) bool { return c.Account == f.account }) {
				t.Logf("%s %s %s %d", c.Time.Format("05.000"), c.PersonaID, c.Endpoint, c.Status)
			}
		}
	})
	var pbs []*v1alpha1.PersonaBinding
	for i, n := range f.numbers {
		id := fmt.Sprintf("%s-%d", f.personaID, i)
		sim.AddPersona(f.apiKey, id, "Persona "+id)
		pb := f.binding(fmt.Sprintf("limited-%d", i), n)
		pb.Spec.PersonaID = id
		pbs = append(pbs, f.create(pb))
	}
	for i, pb := range pbs {
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(sim.Attached(pb.Spec.PersonaID)).To(Equal([]string{f.numbers[i]}))
	}
	var ok, limited int
	for _, c := range sim.Calls(func(c blandsim.Call) bool { return c.Account == f.account }) {
		switch c.Status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	t.Logf("REPORT rate limit 1/s, 4 personas: %d calls answered, %d refused with 429", ok, limited)
	// The client waits after a 429 (a second, as no Retry-After comes), so
	// refusals stay a fraction of the work, never a storm.
	f.g.Expect(limited).To(BeNumerically("<=", ok), "more calls refused than answered: the operator does not slow down")
}
