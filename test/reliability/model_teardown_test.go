package reliability

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// teardownNamespace ends a settled run the way a tenant is offboarded: the
// namespace is deleted, and its contents go in no fixed order (the
// namespace controller deletes them; envtest has none, so the test does).
// Half the runs lose the Secret before the bindings. Every binding must be
// gone within the settling time, holding nothing back: with the Secret
// still there each deleted Detach binding's numbers are detached (the
// model's usual check); without it, the key this process last read may be
// tried, else the numbers are left attached with a warning, so they are
// exempt.
func (r *modelRun) teardownNamespace() {
	must(r.t, k8s.Delete(r.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}))
	secretFirst := r.rng.IntN(2) == 0
	if secretFirst {
		must(r.t, k8s.Delete(r.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: r.ns}}))
		r.note("namespace %s deleted; its Secret goes first", r.ns)
	} else {
		r.note("namespace %s deleted; its bindings go first", r.ns)
	}
	start := time.Now()
	for _, b := range r.now().live() {
		if secretFirst {
			r.mu.Lock()
			listed := r.listed[b.name]
			r.mu.Unlock()
			for n := range listed {
				r.truth.exemptFrom(b.persona, n, start, b.name)
			}
		}
		r.remove(r.now(), b)
	}
	deadline := time.Now().Add(settleLimit)
	var problems []string
	for time.Now().Before(deadline) {
		r.truth.checkUpTo(time.Now().Add(-500 * time.Millisecond))
		if problems = r.violations(""); len(problems) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.t.Errorf("%s after its namespace was deleted:\n  %s", settleLimit, strings.Join(problems, "\n  "))
}
