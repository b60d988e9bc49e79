package plugin

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// suspend, resume and reconcile take several names, or --all; resume
// prints what it will do first.
func TestVerbsTakeSeveralNamesOrAll(t *testing.T) {
	const ns = "verbs-many"
	namespace(t, ns)
	a := inSync(t, ns, "a", nil, "+14155557001")
	b := inSync(t, ns, "b", nil, "+14155557002")
	if out, code := bland(t, ns, "suspend", "pb/a", "b"); code != 0 || !fetch(t, a).Spec.Suspend || !fetch(t, b).Spec.Suspend {
		t.Fatalf("suspend two names: exit %d\n%s", code, out)
	}
	if out, code := bland(t, ns, "suspend"); code != 1 || !strings.Contains(out, "--all") {
		t.Errorf("no name and no --all: exit %d\n%s", code, out)
	}
	// A number was dropped from b while it was suspended: resuming shows
	// that it will be detached.
	cur := fetch(t, b)
	cur.Spec.InboundNumbers = []string{}
	must(t, k8s.Update(context.Background(), cur))
	out, code := bland(t, ns, "resume", "--all")
	if code != 0 || fetch(t, a).Spec.Suspend || fetch(t, b).Spec.Suspend {
		t.Fatalf("resume --all: exit %d\n%s", code, out)
	}
	for _, want := range []string{"resuming will do this:", ns + "/b (changed", "- detach +14155557002", "~ spec.suspend true -> false"} {
		if !strings.Contains(out, want) {
			t.Errorf("resume did not show %q first:\n%s", want, out)
		}
	}
}

// approve --reason records why in an Event on the binding; --wait waits
// until the operator made the detaches and the binding is Ready.
func TestApproveRecordsItsReasonAndWaits(t *testing.T) {
	const ns = "verbs-approve"
	namespace(t, ns)
	pb := inSync(t, ns, "a", limitOf(1), "+14155557101", "+14155557102")
	cur := fetch(t, pb)
	cur.Spec.InboundNumbers = []string{}
	must(t, k8s.Update(context.Background(), cur))
	cur.Status.PendingDetach, cur.Status.ObservedGeneration = []string{"+14155557101", "+14155557102"}, cur.Generation
	must(t, k8s.Status().Update(context.Background(), cur))
	// The operator's part: once the approval names the generation, it
	// detaches and reports Ready.
	playOperator(t, pb, func(got *v1alpha1.PersonaBinding) bool {
		if got.Annotations[v1alpha1.ApproveDetachAnnotation] == "" || len(got.Status.PendingDetach) == 0 {
			return false
		}
		got.Status.PendingDetach, got.Status.BoundNumbers, got.Status.ObservedGeneration = nil, nil, got.Generation
		meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonSynced, Message: "detached", ObservedGeneration: got.Generation})
		return true
	})
	out, code := bland(t, ns, "approve", "pb/a", "--reason", "line retired, ticket OPS-42", "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "Ready=True Synced: detached") {
		t.Fatalf("approve --wait: exit %d\n%s", code, out)
	}
	var events eventsv1.EventList
	must(t, k8s.List(context.Background(), &events, client.InNamespace(ns)))
	found := false
	for _, e := range events.Items {
		found = found || (e.Reason == "DetachApproved" && e.Regarding.Name == "a" && strings.Contains(e.Note, "ticket OPS-42") && strings.Contains(e.Note, "+14155557101"))
	}
	if !found {
		t.Errorf("no DetachApproved Event with the reason: %+v", events.Items)
	}
}

// The verbs complete binding names, and plan -o its values.
func TestCompletion(t *testing.T) {
	const ns = "verbs-complete"
	namespace(t, ns)
	inSync(t, ns, "frontline", nil, "+14155557201")
	inSync(t, ns, "overflow", nil, "+14155557202")
	out, err := exec.Command(plugin, "__complete", "suspend", "--kubeconfig", adminKube, "-n", ns, "front").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "frontline") || strings.Contains(string(out), "overflow") {
		t.Errorf("completing suspend front: %v\n%s", err, out)
	}
	out, err = exec.Command(plugin, "__complete", "plan", "-o", "").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "json") || !strings.Contains(string(out), "text") {
		t.Errorf("completing plan -o: %v\n%s", err, out)
	}
}
