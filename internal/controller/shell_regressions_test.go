package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// The tests in this file each reproduce one way the shell around the pure
// core used to forget or loop; each failed before the intent carried its
// own deadline and keys became observations.

// refuseKeyOnce revokes the key, has the binding meet the refusal (a
// requested read), and restores the key: the binding's status carries
// Unauthorized, and only a later pass can learn the key works again.
func (f *fixture) refuseKeyOnce(pb *v1alpha1.PersonaBinding) {
	f.t.Helper()
	sim.RevokeKey(f.apiKey)
	f.requestResync(pb)
	f.waitFor(pb, v1alpha1.ReasonUnauthorized)
	sim.RestoreKey(f.apiKey)
}

// restartManager stops the manager and starts a new one, as a rolling
// update does.
func (f *fixture) restartManager() {
	f.t.Helper()
	mgrStop()
	stop, err := startManager()
	f.g.Expect(err).NotTo(HaveOccurred())
	mgrStop = stop
}

// E2: after an unanswered call, every key of the persona refused. The
// persona backs off instead of spinning, and once the key works again its
// binding is Ready within one resync interval, with no one asking.
func TestARefusedPersonaWithACallInDoubtBacksOffAndRecovers(t *testing.T) {
	f := newFixture(t, 1)
	n := f.numbers[0]
	pb := f.binding("support", n)
	pb.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	hold := sim.HoldCalls(f.personaID, blandsim.EndpointAttach)
	f.create(pb)
	f.releaseOnCleanup(pb)
	f.arrived(hold)
	f.g.Eventually(func() string { return readyMessage(f.get(pb)) }).WithTimeout(20*time.Second).
		Should(ContainSubstring("never answered"), "the attach was not given up on")
	sim.RevokeKey(f.apiKey)
	hold.Release()
	f.waitFor(pb, v1alpha1.ReasonUnauthorized)

	// While it is refused, each pass reads the Secret once and Bland at
	// most once; the passes back off from a second, doubling.
	passes, reads := reconciles.count(f.personaID), len(f.calls(0))
	window := 12 * time.Second
	deadline := time.Now().Add(window)
	f.g.Consistently(func() int { return reconciles.count(f.personaID) - passes }).
		WithTimeout(time.Until(deadline)).WithPolling(200*time.Millisecond).Should(BeNumerically("<=", 6),
		"the refused persona was reconciled again and again")
	f.g.Expect(len(f.calls(0)) - reads).To(BeNumerically("<=", 6))

	sim.RestoreKey(f.apiKey)
	restored := time.Now()
	got := f.waitForWithin(pb, v1alpha1.ReasonSynced, 45*time.Second)
	t.Logf("Ready %v after the key was restored", time.Since(restored).Round(time.Second))
	f.g.Expect(got.Status.BoundNumbers).To(Equal([]string{n}))
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{n}))
}

// E3: a tenant offboarded by revoking its key in Bland, then its namespace
// deleted. The remembered key is tried, refused, and the binding lets go in
// the same pass, saying what it left attached.
func TestANamespaceDeletedAfterItsKeyWasRevokedIsNotHeld(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.create(f.binding("support", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	sim.RevokeKey(f.apiKey)
	left := testutil.ToFloat64(metrics.NumbersLeftAttached)

	ctx := context.Background()
	f.g.Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})).To(Succeed())
	f.g.Expect(k8s.Delete(ctx, secretRef(f.ns, "bland"))).To(Succeed())
	f.g.Expect(k8s.Delete(ctx, pb)).To(Succeed())
	f.g.Eventually(func() bool { return gone(pb) }).WithTimeout(30*time.Second).Should(BeTrue(),
		func() string { return "the binding held its namespace in Terminating: " + readyMessage(f.get(pb)) })
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers), "numbers were detached with a revoked key")
	// The count follows the finalizer's removal, seen first as the binding gone.
	f.g.Eventually(func() float64 { return testutil.ToFloat64(metrics.NumbersLeftAttached) - left }).
		WithTimeout(5 * time.Second).Should(Equal(2.0))
}

// tenantBinding makes a tenant namespace admitted by an account, and a
// binding through that account, Synced.
func tenantBinding(f *fixture) *v1alpha1.PersonaBinding {
	f.t.Helper()
	account, label := tenantSetup(f)
	f.t.Cleanup(func() { _ = k8s.Delete(context.Background(), account) })
	f.labelNamespace(label)
	pb := f.create(f.accountBinding("support", account.Name, f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	return pb
}

// E7: an account stops admitting the tenant's namespace. The binding says so
// at once, not at its next resync, and calls nothing.
func TestAnAccountThatStopsAdmittingANamespaceIsSeenAtOnce(t *testing.T) {
	f := newFixture(t, 1)
	pb := tenantBinding(f)
	f.releaseOnCleanup(pb)
	mark := f.mark()
	f.labelNamespace("someone-else")
	got := f.waitForWithin(pb, v1alpha1.ReasonAccountNotPermitted, 10*time.Second)
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	f.g.Expect(f.calls(mark)).To(BeEmpty(), "a binding its account refuses called Bland")
}

// E4: a binding whose account no longer admits its namespace (the tenant was
// offboarded) is deleted. It lets go in one pass with a Warning naming what
// it left attached: the account's key is no longer the tenant's to use.
func TestAnOffboardedTenantsBindingLetsGoWhenDeleted(t *testing.T) {
	f := newFixture(t, 1)
	pb := tenantBinding(f)
	mark := f.mark()
	f.labelNamespace("someone-else")
	left := testutil.ToFloat64(metrics.NumbersLeftAttached)
	f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
	f.g.Eventually(func() bool { return gone(pb) }).WithTimeout(20*time.Second).Should(BeTrue(),
		"an offboarded tenant's binding held its deletion")
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	f.g.Expect(f.calls(mark)).To(BeEmpty(), "the account's key was used for a namespace it no longer admits")
	// The count follows the finalizer's removal, seen first as the binding gone.
	f.g.Eventually(func() float64 { return testutil.ToFloat64(metrics.NumbersLeftAttached) - left }).
		WithTimeout(5 * time.Second).Should(Equal(1.0))
	f.g.Eventually(func() string { return strings.Join(f.warnings("NumbersLeftAttached"), "\n") }).
		WithTimeout(10 * time.Second).Should(ContainSubstring(f.numbers[0]))
}

// E5: the Secret now holds another organization's key, which answers
// PERSONA_NOT_FOUND ("not found or access denied"). Deleting the binding
// must not take that for a detach: it keeps its finalizer and says how to
// release it, and the numbers stay attached and accounted for.
func TestADetachAnsweredPersonaNotFoundIsNoDetach(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.create(f.binding("support", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.releaseOnCleanup(pb)
	other := fmt.Sprintf("sk-other-org-%d", f.id)
	sim.AddAccount(fmt.Sprintf("other-org-%d", f.id), other)
	secret := secretRef(f.ns, "bland")
	f.g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(secret), secret)).To(Succeed())
	secret.Data = map[string][]byte{"apiKey": []byte(other)}
	f.g.Expect(k8s.Update(context.Background(), secret)).To(Succeed())

	f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
	f.g.Eventually(func(g Gomega) {
		cur := f.get(pb)
		g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonPersonaNotFound), readyMessage(cur))
		g.Expect(readyMessage(cur)).To(ContainSubstring("deletionPolicy: Orphan"))
		g.Expect(meta.IsStatusConditionTrue(cur.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	}).WithTimeout(20 * time.Second).Should(Succeed())
	cur := f.get(pb)
	f.g.Expect(cur.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	f.g.Expect(cur.Status.BoundNumbers).To(Equal(f.numbers))
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
}

// E6: a Secret the API server cannot read for now (here a name it refuses;
// in life a 5xx, a 429 or a timeout). The binding says so with the error,
// the pass is retried with backoff, and nothing is written for a call that
// will not be made.
func TestAnUnreadableSecretIsRetriedAndWritesNothing(t *testing.T) {
	f := newFixture(t, 1)
	pb := f.binding("support", f.numbers...)
	pb.Spec.CredentialsRef.Name = "not/a-name"
	f.create(pb)
	f.releaseOnCleanup(pb)
	got := f.waitFor(pb, v1alpha1.ReasonAPIError)
	f.g.Expect(readyMessage(got)).To(ContainSubstring("cannot read the API key"))
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeTrue())
	passes := reconciles.count(f.personaID)
	f.g.Eventually(func() int { return reconciles.count(f.personaID) }).WithTimeout(15*time.Second).
		Should(BeNumerically(">=", passes+3), "the unreadable Secret was not retried")
	cur := f.get(pb)
	f.g.Expect(controllerutil.ContainsFinalizer(cur, v1alpha1.Finalizer)).To(BeFalse(), "a finalizer was written for a call never made")
	f.g.Expect(cur.Annotations).NotTo(HaveKey(v1alpha1.IntentAnnotation), "an intent was written for a call never made")
	f.g.Expect(f.calls(0)).To(BeEmpty())
}

// E11: the release before the intent annotation wrote its claim into
// status.boundNumbers with Reconciling=True before each call. A manager of
// that release killed mid-attach, then upgraded, while the user dropped the
// number: the attach lands after the new manager's first read, and the
// number must still end detached.
func TestAnUpgradeFromTheStatusHeldClaimNeverLeaks(t *testing.T) {
	f := newFixture(t, 2)
	kept, extra := f.numbers[0], f.numbers[1]
	pb := f.create(f.binding("support", kept))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	mgrStop()
	mgrStop = func() {}

	// What the earlier release left: the claim in status, Reconciling, no
	// intent annotation; the user has since dropped the number again.
	cur := f.get(pb)
	base := cur.DeepCopy()
	delete(cur.Annotations, v1alpha1.IntentAnnotation)
	f.g.Expect(k8s.Patch(context.Background(), cur, client.MergeFrom(base))).To(Succeed())
	cur = f.get(pb)
	base = cur.DeepCopy()
	cur.Status.BoundNumbers = []string{kept, extra}
	cur.Status.ObservedIntent = 0
	meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProgressing, Message: "taking " + extra, ObservedGeneration: cur.Generation})
	meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonProgressing, Message: "taking " + extra, ObservedGeneration: cur.Generation})
	f.g.Expect(k8s.Status().Patch(context.Background(), cur, client.MergeFrom(base))).To(Succeed())

	mark := f.mark()
	f.restartManager()
	// The new manager reads the persona (the record is not trusted) and
	// finds the number absent; then the earlier attach lands.
	f.g.Eventually(func() []blandsim.Endpoint { return endpoints(f.calls(mark)) }).WithTimeout(20 * time.Second).
		Should(ContainElement(blandsim.EndpointGet))
	sim.AttachOutOfBand(f.personaID, extra)
	landed := time.Now()

	w := f.watchTruth([]*v1alpha1.PersonaBinding{pb}, []string{extra}, nil)
	f.g.Eventually(func(g Gomega) {
		w.stopIfFalse()
		g.Expect(sim.Attached(f.personaID)).To(Equal([]string{kept}), "the number the earlier release was attaching leaked")
		cur := f.get(pb)
		g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonSynced), readyMessage(cur))
		g.Expect(cur.Status.BoundNumbers).To(Equal([]string{kept}))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	t.Logf("detached %v after the late attach landed", time.Since(landed).Round(time.Second))
	w.finish()
}

// E12: a restart costs no call for a suspended binding whose status already
// reports its generation in sync.
func TestARestartReadsNothingForASuspendedBindingInSync(t *testing.T) {
	f := newFixture(t, 1)
	pb := f.create(f.binding("support", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.Suspend = true })
	f.waitFor(pb, v1alpha1.ReasonSuspended)
	f.releaseOnCleanup(pb)
	version := f.get(pb).ResourceVersion

	mark, before := f.mark(), reconciles.count(f.personaID)
	f.restartManager()
	f.g.Eventually(func() int { return reconciles.count(f.personaID) }).WithTimeout(30 * time.Second).Should(BeNumerically(">", before))
	f.g.Expect(f.calls(mark)).To(BeEmpty(), "a restart read a persona whose only binding is suspended and in sync")
	f.g.Expect(f.get(pb).ResourceVersion).To(Equal(version), "a restart wrote to the suspended binding")
}

// E10: a number one binding drops is kept for a sibling that lists it but
// is stalled on its key. The dropping binding says so and waits for that
// sibling to change, with no reads of Bland in between; once the sibling
// can hold the number, it is handed over without a call.
func TestANumberKeptForAStalledSiblingWaitsWithoutReads(t *testing.T) {
	f := newFixture(t, 1)
	n := f.numbers[0]
	a := f.create(f.binding("a-first", n))
	f.waitFor(a, v1alpha1.ReasonSynced)
	b := f.binding("b-second", n)
	b.Spec.CredentialsRef.Name = "absent"
	f.create(b)
	f.waitFor(b, v1alpha1.ReasonCredentialsNotFound)

	f.update(a, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{} })
	got := f.waitFor(a, v1alpha1.ReasonProgressing)
	f.g.Expect(readyMessage(got)).To(ContainSubstring("b-second"))
	mark := f.mark()
	f.g.Consistently(func() []blandsim.Call { return f.calls(mark) }).WithTimeout(8*time.Second).Should(BeEmpty(),
		"the binding waiting for its sibling read Bland again and again")
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{n}), "a number its sibling lists was detached")

	f.update(b, func(cur *v1alpha1.PersonaBinding) { cur.Spec.CredentialsRef.Name = "bland" })
	f.waitFor(b, v1alpha1.ReasonSynced)
	f.waitFor(a, v1alpha1.ReasonSynced)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{n}))
	for _, c := range f.calls(mark) {
		f.g.Expect(c.IsWrite()).To(BeFalse(), "the handover called %s", c.Endpoint)
	}
}

// A key refused, then put right. Passes woken by another persona's
// binding (a rival listing the same number, edited again and again) find
// the refusal carried in the status and read nothing; they must not put
// off the resync that looks again, or the binding stays Unauthorized for
// as long as its neighbours keep changing.
func TestPassesWokenByOthersNeverPutOffTheResyncThatClearsARefusedKey(t *testing.T) {
	f := newFixture(t, 3)
	n1, n2, n3 := f.numbers[0], f.numbers[1], f.numbers[2]
	every30s := &metav1.Duration{Duration: 30 * time.Second}
	pb := f.binding("support", n1)
	pb.Spec.ResyncInterval = every30s
	f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	paused := f.binding("paused", n2)
	paused.Spec.ResyncInterval, paused.Spec.Suspend = every30s, true
	f.create(paused)
	f.waitFor(paused, v1alpha1.ReasonSuspended)

	f.refuseKeyOnce(pb)

	// The rival lists the suspended binding's number: each of its edits
	// wakes the persona, whose suspended binding asks for a read to report
	// what resuming would do.
	rivalPersona := f.personaID + "-rival"
	sim.AddPersona(f.apiKey, rivalPersona, "Rival")
	rival := f.binding("rival", n2)
	rival.Spec.PersonaID = rivalPersona
	f.create(rival)
	restored := time.Now()
	f.g.Eventually(func() string {
		f.update(rival, func(r *v1alpha1.PersonaBinding) {
			if len(r.Spec.InboundNumbers) == 1 {
				r.Spec.InboundNumbers = []string{n2, n3}
			} else {
				r.Spec.InboundNumbers = []string{n2}
			}
		})
		return meta.FindStatusCondition(f.get(pb).Status.Conditions, v1alpha1.ConditionReady).Reason
	}).WithTimeout(50*time.Second).WithPolling(500*time.Millisecond).Should(Equal(v1alpha1.ReasonSynced),
		"the binding stayed Unauthorized while another persona's binding kept changing")
	t.Logf("Synced %v after the key was restored", time.Since(restored).Round(time.Second))
}

// A key refused, then put right, and a new binding added with the same
// Secret: the pass that reads the persona for it proves the key works, and
// the first binding is no longer reported Unauthorized by that same pass.
func TestAReadThatSucceedsWithAKeyClearsItsCarriedRefusal(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.binding("support", f.numbers[0])
	pb.Spec.ResyncInterval = &metav1.Duration{Duration: 10 * time.Minute}
	f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.refuseKeyOnce(pb)
	// A new process: the persona's first resync is ten minutes or more
	// away, and its refusal is known only from the status.
	f.restartManager()

	mark := f.mark()
	added := f.create(f.binding("sales", f.numbers[1]))
	f.waitFor(added, v1alpha1.ReasonSynced)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	for _, c := range f.calls(mark) {
		f.g.Expect(c.Endpoint).To(Equal(blandsim.EndpointAttach), "the persona was read: %s at %s", c.Endpoint, c.Time)
	}
}

// A deleted binding that leaves its numbers attached (Orphan; it held them
// under Detach first, so its finalizer is on) needs no call and no read: it
// goes at once, even while its persona is due a read no key can make (its
// Secret is gone). The plan a failed read discards keeps such releases.
// Found by the model test's namespace teardown (seed 940213).
func TestAnOrphanBindingGoesWhileNoKeyCanReadItsPersona(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.binding("support", f.numbers...)
	pb.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	pb = f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
	f.waitFor(pb, v1alpha1.ReasonSynced)

	ctx := context.Background()
	f.g.Expect(k8s.Delete(ctx, secretRef(f.ns, "bland"))).To(Succeed())
	clock.Advance(time.Minute + time.Second) // the persona's resync is due: its pass must read
	f.g.Expect(k8s.Delete(ctx, pb)).To(Succeed())
	f.g.Eventually(func() bool { return gone(pb) }).WithTimeout(10*time.Second).Should(BeTrue(),
		func() string { return "the Orphan binding is held: " + readyMessage(f.get(pb)) })
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers), "an Orphan binding's numbers were detached")
}
