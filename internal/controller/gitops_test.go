package controller_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/test/argocd"
)

// expectState checks the binding against the kstatus and Argo CD tables of the
// spec, and the condition conventions that hold in every state.
func expectState(g Gomega, pb *v1alpha1.PersonaBinding, kst status.Status, health string) {
	g.Expect(kstatus(g, pb)).To(Equal(kst))
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pb)
	g.Expect(err).NotTo(HaveOccurred())
	script, err := argocd.ReadScript("../../config/argocd/health.lua")
	g.Expect(err).NotTo(HaveOccurred())
	h, err := argocd.Evaluate(script, jsonRoundTrip(g, u))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.Status).To(Equal(health), h.Message)

	if pb.Status.ObservedGeneration == -1 {
		return // not seen yet
	}
	g.Expect(pb.Status.ObservedGeneration).To(Equal(pb.Generation))
	g.Expect(meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)).NotTo(BeNil(), "Ready is always present")
	for _, c := range pb.Status.Conditions {
		g.Expect(c.ObservedGeneration).To(Equal(pb.Generation), "condition %s", c.Type)
		if c.Type != v1alpha1.ConditionReady {
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s is present only while true", c.Type)
		}
	}
}

// jsonRoundTrip turns typed numbers into float64, as a JSON decoder (and
// Argo CD) would hand them to the script.
func jsonRoundTrip(g Gomega, u map[string]any) map[string]any {
	b, err := yaml.Marshal(u)
	g.Expect(err).NotTo(HaveOccurred())
	var out map[string]any
	g.Expect(yaml.Unmarshal(b, &out)).To(Succeed())
	return out
}

// reach waits until the binding is in its current generation with the reason,
// then checks the state.
func (f *fixture) reach(pb *v1alpha1.PersonaBinding, reason string, kst status.Status, health string) {
	f.t.Helper()
	got := f.waitFor(pb, reason)
	expectState(f.g, got, kst, health)
}

func TestOneBindingWalksThroughEveryState(t *testing.T) {
	f := newFixture(t, 3)
	owned, held := f.numbers[0], f.numbers[1]
	older := f.create(f.binding("a-older", held))
	f.waitFor(older, v1alpha1.ReasonSynced)

	pb := f.binding("walk", owned)
	pb.Spec.CredentialsRef.Name = "late"
	f.create(pb)
	expectState(f.g, pb, status.InProgressStatus, "Progressing") // just created, not yet seen
	f.reach(pb, v1alpha1.ReasonCredentialsNotFound, status.FailedStatus, "Degraded")

	f.secret("late", "sk-wrong")
	f.requestResync(pb)
	f.reach(pb, v1alpha1.ReasonUnauthorized, status.FailedStatus, "Degraded")

	secret := &corev1.Secret{}
	f.g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "late"}, secret)).To(Succeed())
	secret.Data = map[string][]byte{"apiKey": []byte(f.apiKey)}
	f.g.Expect(k8s.Update(context.Background(), secret)).To(Succeed())
	f.requestResync(pb)
	f.reach(pb, v1alpha1.ReasonSynced, status.CurrentStatus, "Healthy")

	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 503, Account: f.account}, 3)
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{owned, f.numbers[2]} })
	f.g.Eventually(func(g Gomega) {
		cur := f.get(pb)
		g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonAPIError))
		expectState(g, cur, status.InProgressStatus, "Progressing")
	}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
	f.reach(pb, v1alpha1.ReasonSynced, status.CurrentStatus, "Healthy")

	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{owned, f.foreign(2)} })
	f.reach(pb, v1alpha1.ReasonNumberNotOwned, status.FailedStatus, "Degraded")

	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{owned, held} })
	f.reach(pb, v1alpha1.ReasonNumberConflict, status.FailedStatus, "Degraded")

	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{owned} })
	f.reach(pb, v1alpha1.ReasonSynced, status.CurrentStatus, "Healthy")

	// Suspended and in sync: nothing is pending, so kstatus says Current.
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.Suspend = true })
	f.reach(pb, v1alpha1.ReasonSuspended, status.CurrentStatus, "Suspended")
	// Suspended with a change waiting: Ready=False keeps kstatus honest.
	sim.DetachOutOfBand(f.personaID, owned)
	f.requestResync(pb)
	f.reach(pb, v1alpha1.ReasonSuspended, status.InProgressStatus, "Suspended")
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.Suspend = false })
	f.reach(pb, v1alpha1.ReasonSynced, status.CurrentStatus, "Healthy")

	sim.DeletePersona(f.personaID)
	f.requestResync(pb)
	f.reach(pb, v1alpha1.ReasonPersonaNotFound, status.FailedStatus, "Degraded")
	sim.AddPersona(f.apiKey, f.personaID, "Persona "+f.personaID)
	f.requestResync(pb)
	f.reach(pb, v1alpha1.ReasonSynced, status.CurrentStatus, "Healthy")

	// Deleting, held by the finalizer because the credentials are gone.
	f.g.Expect(k8s.Delete(context.Background(), secretRef(f.ns, "late"))).To(Succeed())
	f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
	f.g.Eventually(func(g Gomega) {
		cur := f.get(pb)
		g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonCredentialsNotFound))
		g.Expect(kstatus(g, cur)).To(Equal(status.TerminatingStatus))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
}

func readyReasonOf(pb *v1alpha1.PersonaBinding) string {
	if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// TestServerSideApplyShowsNoDrift applies a binding as a GitOps tool would,
// lets the operator reconcile, and re-applies: nothing in spec or metadata may
// change, so Argo CD and Flux never see the binding out of sync.
func TestServerSideApplyShowsNoDrift(t *testing.T) {
	f := newFixture(t, 2)
	manifest := `
apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata:
  name: gitops
  namespace: ` + f.ns + `
  labels: {app: telephony}
spec:
  personaID: ` + f.personaID + `
  inboundNumbers: ["` + f.numbers[1] + `", "` + f.numbers[0] + `"]
  credentialsRef: {name: bland}
  numberSettings:
  - {number: "` + f.numbers[1] + `", pathwayID: p1}
`
	apply := func(opts ...client.ApplyOption) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		f.g.Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
		ac := client.ApplyConfigurationFromUnstructured(u)
		f.g.Expect(k8s.Apply(context.Background(), ac, append(opts, client.FieldOwner("gitops"), client.ForceOwnership)...)).To(Succeed())
		// Apply decodes the server's answer into u: for a dry run, the object
		// the apply would produce.
		return u
	}
	first := apply()
	pb := &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "gitops"}}
	f.waitFor(pb, v1alpha1.ReasonSynced)

	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("PersonaBinding"))
	f.g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), live)).To(Succeed())
	f.g.Expect(live.Object["spec"]).To(Equal(first.Object["spec"]), "the operator changed the spec")
	f.g.Expect(live.GetGeneration()).To(Equal(first.GetGeneration()))
	// The list order is the user's, not sorted by the operator.
	numbers, _, _ := unstructured.NestedStringSlice(live.Object, "spec", "inboundNumbers")
	f.g.Expect(numbers).To(Equal([]string{f.numbers[1], f.numbers[0]}))

	again := apply(client.DryRunAll)
	f.g.Expect(again.Object["spec"]).To(Equal(live.Object["spec"]))
	f.g.Expect(again.GetLabels()).To(Equal(live.GetLabels()))
	f.g.Expect(again.GetAnnotations()).To(Equal(live.GetAnnotations()))
	f.g.Expect(again.GetFinalizers()).To(Equal(live.GetFinalizers()))
	f.g.Expect(again.GetGeneration()).To(Equal(live.GetGeneration()), "a re-apply would bump the generation")
}

// TestIdleBindingMakesNoWrites lets a binding in sync go through two resyncs
// and checks the operator wrote nothing to the API server: no status patch, no
// event, lastTransitionTime unmoved.
func TestIdleBindingMakesNoWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two 30s resyncs")
	}
	f := newFixture(t, 2)
	pb := f.binding("idle", f.numbers...)
	pb.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	f.create(pb)
	before := f.waitFor(pb, v1alpha1.ReasonSynced)
	var events eventsv1.EventList
	f.g.Eventually(func(g Gomega) {
		g.Expect(k8s.List(context.Background(), &events, client.InNamespace(f.ns))).To(Succeed())
		g.Expect(events.Items).NotTo(BeEmpty())
	}).Should(Succeed())
	eventsBefore := len(events.Items)

	mark := f.mark()
	f.g.Eventually(func() int { return len(f.calls(mark)) }).
		WithTimeout(100*time.Second).WithPolling(time.Second).Should(BeNumerically(">=", 2), "two resyncs")
	for _, c := range f.calls(mark) {
		f.g.Expect(c.Endpoint).To(Equal(blandsim.EndpointGet), "an idle resync only reads")
	}

	after := f.get(pb)
	f.g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the operator wrote to an idle binding")
	f.g.Expect(after.Status.Conditions).To(Equal(before.Status.Conditions))
	f.g.Expect(k8s.List(context.Background(), &events, client.InNamespace(f.ns))).To(Succeed())
	f.g.Expect(events.Items).To(HaveLen(eventsBefore), "an idle resync emitted events")
}
