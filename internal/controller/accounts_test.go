package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// tenantSetup makes a platform namespace holding the account's Secret, a
// ClusterBlandAccount selecting namespaces labelled tenant=<fixture>, and
// leaves the fixture's own namespace (which also has a Secret "bland") as
// the tenant, unlabelled.
func tenantSetup(f *fixture) (account *v1alpha1.ClusterBlandAccount, label string) {
	f.t.Helper()
	ctx := context.Background()
	platform := f.ns + "-platform"
	f.g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platform}})).To(Succeed())
	f.g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shared-key", Namespace: platform},
		StringData: map[string]string{"apiKey": f.apiKey}})).To(Succeed())
	label = "tenant-" + f.ns
	account = &v1alpha1.ClusterBlandAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "acct-" + f.ns},
		Spec: v1alpha1.ClusterBlandAccountSpec{
			SecretRef:         v1alpha1.NamespacedSecretKeyRef{Namespace: platform, Name: "shared-key"},
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"bland.example.com/tenant": label}},
		},
	}
	f.g.Expect(k8s.Create(ctx, account)).To(Succeed())
	return account, label
}

func (f *fixture) labelNamespace(value string) {
	f.t.Helper()
	var ns corev1.Namespace
	f.g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: f.ns}, &ns)).To(Succeed())
	base := ns.DeepCopy()
	ns.Labels = map[string]string{"bland.example.com/tenant": value}
	f.g.Expect(k8s.Patch(context.Background(), &ns, client.MergeFrom(base))).To(Succeed())
}

func (f *fixture) accountBinding(name, account string, numbers ...string) *v1alpha1.PersonaBinding {
	pb := f.binding(name, numbers...)
	pb.Spec.CredentialsRef = nil
	pb.Spec.AccountRef = &v1alpha1.AccountRef{Name: account}
	return pb
}

func TestClusterBlandAccount(t *testing.T) {
	f := newFixture(t, 2)
	f.g.Expect(k8s.Delete(context.Background(), secretRef(f.ns, "bland"))).To(Succeed()) // the tenant holds no key
	account, label := tenantSetup(f)
	ctx := context.Background()

	pb := f.create(f.accountBinding("tenant-line", account.Name, f.numbers...))

	t.Run("a namespace outside the selector is refused with no Bland call", func(t *testing.T) {
		got := f.waitFor(pb, v1alpha1.ReasonAccountNotPermitted)
		f.g.Expect(readyMessage(got)).To(ContainSubstring(f.ns))
		f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
		f.g.Expect(f.calls(0)).To(BeEmpty())
	})

	t.Run("relabelling the namespace admits it without a restart", func(t *testing.T) {
		f.labelNamespace(label)
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	})

	t.Run("the account reports its Secret and its bindings", func(t *testing.T) {
		f.g.Eventually(func(g Gomega) {
			var cur v1alpha1.ClusterBlandAccount
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(account), &cur)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(cur.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
			g.Expect(cur.Status.Bindings).To(Equal(int32(1)))
			g.Expect(cur.Finalizers).To(ContainElement(v1alpha1.AccountFinalizer))
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	t.Run("deleting the account while a binding uses it is held until the binding moves", func(t *testing.T) {
		f.g.Expect(k8s.Delete(ctx, account)).To(Succeed())
		f.g.Eventually(func(g Gomega) {
			var cur v1alpha1.ClusterBlandAccount
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(account), &cur)).To(Succeed())
			ready := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonAccountInUse))
			g.Expect(ready.Message).To(ContainSubstring(f.ns + "/tenant-line"))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		f.secret("own-key", f.apiKey)
		f.update(pb, func(cur *v1alpha1.PersonaBinding) {
			cur.Spec.AccountRef = nil
			cur.Spec.CredentialsRef = &v1alpha1.SecretKeyRef{Name: "own-key", Key: "apiKey"}
		})
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(account), &v1alpha1.ClusterBlandAccount{}))
		}).WithTimeout(20 * time.Second).Should(BeTrue())
	})

	t.Run("the key never appears in the account's status, events or the log", func(t *testing.T) {
		var evs eventsv1.EventList
		f.g.Expect(k8s.List(ctx, &evs)).To(Succeed())
		b, err := json.Marshal(evs)
		f.g.Expect(err).NotTo(HaveOccurred())
		f.g.Expect(string(b)).NotTo(ContainSubstring(f.apiKey))
		var accts v1alpha1.ClusterBlandAccountList
		f.g.Expect(k8s.List(ctx, &accts)).To(Succeed())
		b, err = json.Marshal(accts)
		f.g.Expect(err).NotTo(HaveOccurred())
		f.g.Expect(string(b)).NotTo(ContainSubstring(f.apiKey))
		f.g.Expect(strings.Contains(string(logs.Bytes()), f.apiKey)).To(BeFalse())
	})
}

func TestExactlyOneCredentialSourceIsRequired(t *testing.T) {
	f := newFixture(t, 1)
	both := f.binding("both", f.numbers...)
	both.Spec.AccountRef = &v1alpha1.AccountRef{Name: "production"}
	err := k8s.Create(context.Background(), both)
	f.g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	f.g.Expect(err.Error()).To(ContainSubstring("set exactly one of spec.credentialsRef and spec.accountRef"))

	neither := f.binding("neither", f.numbers...)
	neither.Spec.CredentialsRef = nil
	err = k8s.Create(context.Background(), neither)
	f.g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
}
