package plugin

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// TestVerbsNameAgentBindings: status lists an AgentBinding under its agent,
// suspend and resume set its spec, and reconcile waits for the operator's
// answer to it (played here, as for PersonaBindings).
func TestVerbsNameAgentBindings(t *testing.T) {
	ctx := context.Background()
	namespace(t, "verbs-ab")
	ab := &v1alpha1.AgentBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "verbs-ab", Name: "line"},
		Spec: v1alpha1.AgentBindingSpec{AgentID: "agent-7", InboundNumbers: []string{"+14155553701"},
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
	}
	must(t, k8s.Create(ctx, ab))
	ab.Status.ObservedGeneration, ab.Status.BoundNumbers = ab.Generation, []string{"+14155553701"}
	meta.SetStatusCondition(&ab.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonSynced, Message: "in sync", ObservedGeneration: ab.Generation})
	must(t, k8s.Status().Update(ctx, ab))

	out, code := bland(t, "verbs-ab", "status")
	if code != 0 || !strings.Contains(out, "agent agent-7 (production)") || !strings.Contains(out, "ab/verbs-ab/line") {
		t.Fatalf("status (exit %d) does not list the AgentBinding under its agent:\n%s", code, out)
	}

	if out, code := bland(t, "verbs-ab", "suspend", "ab/line"); code != 0 {
		t.Fatalf("suspend ab/line: exit %d\n%s", code, out)
	}
	cur := &v1alpha1.AgentBinding{}
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(ab), cur))
	if !cur.Spec.Suspend {
		t.Fatal("suspend ab/line did not set spec.suspend on the AgentBinding")
	}

	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			cur := &v1alpha1.AgentBinding{}
			if k8s.Get(ctx, client.ObjectKeyFromObject(ab), cur) != nil {
				continue
			}
			at := cur.Annotations[v1alpha1.ReconcileRequestedAtAnnotation]
			if at == "" || at == cur.Status.LastHandledReconcileAt {
				continue
			}
			cur.Status.LastHandledReconcileAt, cur.Status.ObservedGeneration = at, cur.Generation
			meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
				Reason: v1alpha1.ReasonSynced, Message: "agent read just now", ObservedGeneration: cur.Generation})
			_ = k8s.Status().Update(ctx, cur)
		}
	}()
	out, code = bland(t, "verbs-ab", "reconcile", "ab/line", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "Ready=True Synced: agent read just now") {
		t.Fatalf("reconcile ab/line (exit %d):\n%s", code, out)
	}
	if _, code := bland(t, "verbs-ab", "reconcile", "xb/line"); code == 0 {
		t.Fatal("reconcile of an unknown kind succeeded")
	}
}
