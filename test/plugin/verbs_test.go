package plugin

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// bland runs a verb of the plugin in a namespace.
func bland(t *testing.T, ns string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(plugin, append(args, "--kubeconfig", adminKube, "-n", ns)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func fetch(t *testing.T, pb *v1alpha1.PersonaBinding) *v1alpha1.PersonaBinding {
	t.Helper()
	cur := &v1alpha1.PersonaBinding{}
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur))
	return cur
}

// reconcile sets the request annotation and waits for the operator to
// handle it. No manager runs in this package: a goroutine plays the
// operator's part of that contract (it writes lastHandledReconcileAt and a
// Ready condition once it sees the request), so the test checks only what
// the plugin does.
func TestReconcileWaitsForTheOperatorToHandleTheRequest(t *testing.T) {
	namespace(t, "verbs-r")
	pb := inSync(t, "verbs-r", "a", nil, "+14155553001")
	playOperator(t, pb, func(cur *v1alpha1.PersonaBinding) bool {
		at := cur.Annotations[v1alpha1.ReconcileRequestedAtAnnotation]
		if at == "" || at == cur.Status.LastHandledReconcileAt {
			return false
		}
		cur.Status.LastHandledReconcileAt = at
		meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonSynced, Message: "read just now", ObservedGeneration: cur.Generation})
		return true
	})
	out, code := bland(t, "verbs-r", "reconcile", "pb/a", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "Ready=True Synced: read just now") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if got := fetch(t, pb); got.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] != got.Status.LastHandledReconcileAt {
		t.Errorf("requested %q, handled %q", got.Annotations[v1alpha1.ReconcileRequestedAtAnnotation], got.Status.LastHandledReconcileAt)
	}
	if _, code := bland(t, "verbs-r", "reconcile", "pb/missing", "--timeout", "1s"); code != 1 {
		t.Errorf("a missing binding: exit %d, want 1", code)
	}
}

// approve shows what it approves and writes the current generation; with
// nothing waiting it writes nothing.
func TestApproveWritesTheCurrentGeneration(t *testing.T) {
	namespace(t, "verbs-a")
	pb := inSync(t, "verbs-a", "a", limitOf(1), "+14155554001", "+14155554002")
	out, code := bland(t, "verbs-a", "approve", "pb/a")
	if code != 0 || !strings.Contains(out, "no detach waiting") || fetch(t, pb).Annotations[v1alpha1.ApproveDetachAnnotation] != "" {
		t.Fatalf("nothing pending: exit %d, %s", code, out)
	}
	cur := fetch(t, pb)
	cur.Spec.InboundNumbers = []string{}
	must(t, k8s.Update(context.Background(), cur))
	cur.Status.PendingDetach = []string{"+14155554001", "+14155554002"}
	must(t, k8s.Status().Update(context.Background(), cur))

	// The status is of the generation before the edit: what it shows pending
	// is not what the operator would detach now.
	if out, code := bland(t, "verbs-a", "approve", "pb/a"); code != 1 || !strings.Contains(out, "has not reported on generation") {
		t.Fatalf("approving an old generation's report: exit %d, %s", code, out)
	}
	cur.Status.ObservedGeneration = cur.Generation
	must(t, k8s.Status().Update(context.Background(), cur))
	out, code = bland(t, "verbs-a", "approve", "pb/a")
	if code != 0 || !strings.Contains(out, "the detach of +14155554001, +14155554002") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if got, want := fetch(t, pb).Annotations[v1alpha1.ApproveDetachAnnotation], persona.ApprovalFor(cur.Generation, cur.Status.PendingDetach); got != want {
		t.Errorf("approval %q, want %q (generation %d and exactly the numbers shown)", got, want, cur.Generation)
	}
}

func TestSuspendResumeAndStatus(t *testing.T) {
	namespace(t, "verbs-s")
	pb := inSync(t, "verbs-s", "a", nil, "+14155555001")
	if out, code := bland(t, "verbs-s", "suspend", "pb/a"); code != 0 || !fetch(t, pb).Spec.Suspend {
		t.Fatalf("suspend: exit %d, %s", code, out)
	}
	if out, code := bland(t, "verbs-s", "resume", "a"); code != 0 || fetch(t, pb).Spec.Suspend {
		t.Fatalf("resume: exit %d, %s", code, out)
	}
	if out, code := bland(t, "verbs-s", "suspend", "deployment/a"); code != 1 || !strings.Contains(out, "not a PersonaBinding") {
		t.Errorf("another kind: exit %d, %s", code, out)
	}
	out, code := bland(t, "verbs-s", "status")
	if code != 0 || !strings.Contains(out, "persona-verbs-s") || !strings.Contains(out, "verbs-s/a") || !strings.Contains(out, "+14155555001") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
}

// playOperator plays the operator's part of a contract for the test: every
// 100 ms it reads the binding, and when act changes its status (act says
// so), writes it. No manager runs in this package.
func playOperator(t *testing.T, pb *v1alpha1.PersonaBinding, act func(cur *v1alpha1.PersonaBinding) bool) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			cur := &v1alpha1.PersonaBinding{}
			if k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur) == nil && act(cur) {
				_ = k8s.Status().Update(context.Background(), cur)
			}
		}
	}()
}
