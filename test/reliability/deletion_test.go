package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// TestBlandDownDuringDeletion deletes a binding while every call to Bland
// fails: the finalizer holds, the condition says why, and the numbers are
// detached once Bland answers again.
func TestBlandDownDuringDeletion(t *testing.T) {
	ns, numbers := account(t, "downdelete", 2)
	sim.AddPersona("sk-downdelete", "down-persona", "Down")
	ctx := context.Background()
	pb := newBinding(ns, "line", "down-persona", "bland", numbers...)
	must(t, k8s.Create(ctx, pb))
	startManager(t)
	waitConverged(t, ns, []string{"down-persona"}, 30*time.Second)

	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 503, Account: "downdelete"}, 1_000_000)
	must(t, k8s.Delete(ctx, pb))
	failedDetaches := func() int {
		return len(sim.Calls(func(c blandsim.Call) bool {
			return c.Account == "downdelete" && c.Endpoint == blandsim.EndpointDetach && c.Status == 503
		}))
	}
	deadline := time.Now().Add(30 * time.Second)
	for failedDetaches() < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if failedDetaches() < 3 {
		t.Fatal("the operator did not keep retrying the detach")
	}
	var cur v1alpha1.PersonaBinding
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(pb), &cur))
	msg := ""
	for _, c := range cur.Status.Conditions {
		if c.Type == "Ready" {
			msg = c.Message
		}
	}
	if len(cur.Finalizers) == 0 || !strings.Contains(msg, "cannot detach") || !strings.Contains(msg, "503") {
		t.Fatalf("while Bland is down: finalizers %v, Ready message %q", cur.Finalizers, msg)
	}

	sim.ClearFaults()
	start := time.Now()
	for time.Since(start) < 60*time.Second {
		if apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(pb), &cur)) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(pb), &cur); !apierrors.IsNotFound(err) {
		t.Fatalf("the binding was not released after Bland recovered: %v", err)
	}
	if left := sim.Attached("down-persona"); len(left) != 0 {
		t.Fatalf("numbers left attached: %v", left)
	}
	report(t, "%d failed detach attempts while down; deleted %.1fs after Bland recovered", failedDetaches(), time.Since(start).Seconds())
}
