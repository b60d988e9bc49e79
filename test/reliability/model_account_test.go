package reliability

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// A third of the run's bindings reach the key through a ClusterBlandAccount
// that admits the run's namespace by a label; the others name the Secret.
// Both read the same key, so a persona's bindings share one key group
// whichever way they read it, and one kind may be blocked while the other
// works.

// runLabel is the namespace label the run's account selects.
const runLabel = "model.bland-operator.dev/run"

func (r *modelRun) accountName() string { return "model-" + r.ns }

// viaAccount says whether a binding reads its key through the account
// (fixed by its creation order, so no random draw changes).
func viaAccount(b modelBinding) bool { return b.order%3 == 1 }

// createAccount makes the run's ClusterBlandAccount, admitting its
// namespace, and labels the namespace.
func (r *modelRun) createAccount() {
	acct := &v1alpha1.ClusterBlandAccount{
		ObjectMeta: metav1.ObjectMeta{Name: r.accountName()},
		Spec: v1alpha1.ClusterBlandAccountSpec{
			SecretRef:         v1alpha1.NamespacedSecretKeyRef{Namespace: r.ns, Name: "bland", Key: "apiKey"},
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{runLabel: r.ns}},
		},
	}
	must(r.t, k8s.Create(r.ctx, acct))
	r.t.Cleanup(func() { _ = k8s.Delete(r.ctx, acct) })
	r.labelNamespace(r.ns)
}

// labelNamespace sets the run's namespace label to value: the run's own
// name admits it, anything else does not.
func (r *modelRun) labelNamespace(value string) {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, runLabel, value)
	must(r.t, k8s.Patch(r.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}, client.RawPatch("application/merge-patch+json", []byte(patch))))
}

// offboard makes the account stop admitting the namespace for a few steps
// (a platform team offboarding the tenant, or a label edited by mistake):
// the account's bindings say AccountNotPermitted and call nothing, and one
// deleted meanwhile lets go of its numbers without detaching them (the
// key is not the tenant's to use), so they are exempt from the detach the
// model otherwise expects.
func (r *modelRun) offboard(world) {
	if r.lapses.unadmitted > 0 {
		return
	}
	r.labelNamespace("offboarded")
	r.lapses.unadmitted = 2 + r.rng.IntN(4)
	r.note("account %s no longer admits namespace %s", r.accountName(), r.ns)
}

func (r *modelRun) readmit() {
	r.labelNamespace(r.ns)
	r.lapses.unadmitted = 0
	r.note("account %s admits namespace %s again", r.accountName(), r.ns)
}

// lettingGo exempts the numbers of a binding deleted while its account
// does not admit its namespace: it lets go without a detach.
func (r *modelRun) lettingGo(b modelBinding, at time.Time) {
	if r.lapses.unadmitted == 0 || !viaAccount(b) {
		return
	}
	r.mu.Lock()
	listed := r.listed[b.name]
	r.mu.Unlock()
	for n := range listed {
		r.truth.exemptFrom(b.persona, n, at, b.name)
	}
}
