package controller_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// deleteAndWait deletes the binding and waits until the API server forgot it.
func (f *fixture) deleteAndWait(pb *v1alpha1.PersonaBinding) {
	f.t.Helper()
	f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
	f.g.Eventually(func() bool {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), &v1alpha1.PersonaBinding{})
		return apierrors.IsNotFound(err)
	}).WithTimeout(20 * time.Second).Should(BeTrue())
}

func TestDeletion(t *testing.T) {
	t.Run("with Detach detaches exactly the bound numbers and removes the finalizer", func(t *testing.T) {
		f := newFixture(t, 3)
		sim.AttachOutOfBand(f.personaID, f.numbers[2]) // not ours: must stay
		pb := f.create(f.binding("support", f.numbers[0], f.numbers[1]))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		mark := f.mark()
		f.deleteAndWait(pb)
		calls := f.calls(mark)
		f.g.Expect(endpoints(calls)).To(Equal([]blandsim.Endpoint{blandsim.EndpointDetach}))
		f.g.Expect(calls[0].Numbers).To(Equal([]string{f.numbers[0], f.numbers[1]}))
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[2]}))
	})

	t.Run("with Orphan makes no call and leaves the numbers attached", func(t *testing.T) {
		f := newFixture(t, 2)
		pb := f.binding("support", f.numbers...)
		pb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		f.create(pb)
		got := f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(got.Finalizers).To(ContainElement(v1alpha1.Finalizer), "an Orphan binding holding numbers keeps the finalizer, so that a switch to Detach is never missed")
		mark := f.mark()
		f.deleteAndWait(pb)
		f.g.Expect(f.calls(mark)).To(BeEmpty())
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	})

	t.Run("a binding whose Secret never existed deletes at once", func(t *testing.T) {
		f := newFixture(t, 1)
		pb := f.binding("support", f.numbers...)
		pb.Spec.CredentialsRef.Name = "never-created"
		f.create(pb)
		f.waitFor(pb, v1alpha1.ReasonCredentialsNotFound)
		f.deleteAndWait(pb)
		f.g.Expect(f.calls(0)).To(BeEmpty())
	})

	t.Run("keeps the finalizer while credentials are gone, until switched to Orphan", func(t *testing.T) {
		f := newFixture(t, 1)
		pb := f.create(f.binding("support", f.numbers...))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(k8s.Delete(context.Background(), secretRef(f.ns, "bland"))).To(Succeed())
		f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
		f.g.Eventually(func(g Gomega) {
			cur := f.get(pb)
			g.Expect(cur.Finalizers).To(ContainElement(v1alpha1.Finalizer))
			g.Expect(readyMessage(cur)).To(ContainSubstring("deletionPolicy: Orphan"))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
		f.g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), &v1alpha1.PersonaBinding{}))
		}).WithTimeout(20 * time.Second).Should(BeTrue())
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	})

	t.Run("a persona that no longer answers holds the deletion until Orphan", func(t *testing.T) {
		f := newFixture(t, 1)
		pb := f.create(f.binding("support", f.numbers...))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		sim.DeletePersona(f.personaID)
		f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
		f.g.Eventually(func(g Gomega) {
			cur := f.get(pb)
			g.Expect(cur.Finalizers).To(ContainElement(v1alpha1.Finalizer))
			g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonPersonaNotFound), readyMessage(cur))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
		f.g.Eventually(func() bool { return gone(pb) }).WithTimeout(20 * time.Second).Should(BeTrue())
	})
}

func TestNamespaceTeardownNeverHangs(t *testing.T) {
	// envtest runs no namespace controller: the test deletes the namespace,
	// then its objects as that controller would, the Secret first.
	teardown := func(f *fixture, pb *v1alpha1.PersonaBinding) {
		f.t.Helper()
		ctx := context.Background()
		f.g.Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})).To(Succeed())
		f.g.Expect(k8s.Delete(ctx, secretRef(f.ns, "bland"))).To(Succeed())
		f.g.Expect(k8s.Delete(ctx, pb)).To(Succeed())
		f.g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(pb), &v1alpha1.PersonaBinding{}))
		}).WithTimeout(time.Minute).Should(BeTrue(), "the binding held its namespace in Terminating")
	}

	t.Run("detaches with the key the process last read", func(t *testing.T) {
		f := newFixture(t, 2)
		pb := f.create(f.binding("support", f.numbers...))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		teardown(f, pb)
		f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())
	})

	t.Run("without a known key lets go and counts what it left attached", func(t *testing.T) {
		f := newFixture(t, 2)
		pb := f.create(f.binding("support", f.numbers...))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		mgrStop() // a new process has read no key yet
		stop, err := startManager()
		f.g.Expect(err).NotTo(HaveOccurred())
		mgrStop = stop
		left := testutil.ToFloat64(metrics.NumbersLeftAttached)
		teardown(f, pb)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
		// The count follows the finalizer's removal, which the test sees
		// first as the binding gone.
		f.g.Eventually(func() float64 { return testutil.ToFloat64(metrics.NumbersLeftAttached) - left }).
			WithTimeout(5 * time.Second).Should(Equal(2.0))
	})
}
