package reliability

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// TestHotLoopGuard puts every kind of permanent error in place at once and
// watches, over a window, that stalled bindings neither call Bland nor write to
// the API server again before their retry time.
func TestHotLoopGuard(t *testing.T) {
	ns, numbers := account(t, "hotloop", 5)
	sim.AddPersona("sk-hotloop", "hot-persona", "Hot")
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "wrong", Namespace: ns}, StringData: map[string]string{"apiKey": "sk-wrong"}}))
	binding := func(name, persona, secret string, nums ...string) *v1alpha1.PersonaBinding {
		return newBinding(ns, name, persona, secret, nums...)
	}
	// The holder sorts first by name, so it is the older one even when both
	// are created within the same second.
	older := binding("a-holder", "hot-persona", "bland", numbers[2])
	must(t, k8s.Create(ctx, older))
	stalled := map[string]*v1alpha1.PersonaBinding{
		"CredentialsNotFound": binding("no-secret", "hot-persona", "missing", numbers[0]),
		"Unauthorized":        binding("bad-key", "hot-persona", "wrong", numbers[1]),
		"PersonaNotFound":     binding("no-persona", "no-such-persona", "bland", numbers[3]),
		"NumberNotOwned":      binding("not-owned", "hot-persona", "bland", "+19990000001"),
		"NumberConflict":      binding("z-conflict", "hot-persona", "bland", numbers[2]),
	}
	metricsAddr := freeAddr(t)
	startManager(t, "--metrics-bind-address", metricsAddr, "--metrics-secure=false")
	for _, pb := range stalled {
		must(t, k8s.Create(ctx, pb))
	}

	versions := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for reason, pb := range stalled {
		for {
			var cur v1alpha1.PersonaBinding
			must(t, k8s.Get(ctx, client.ObjectKeyFromObject(pb), &cur))
			if readyReason(&cur) == reason && cur.Status.ObservedGeneration == cur.Generation {
				versions[pb.Name] = cur.ResourceVersion
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never stalled with %s (now %q)", pb.Name, reason, readyReason(&cur))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	before := len(sim.Calls(func(c blandsim.Call) bool { return c.Account == "hotloop" || c.Account == "" }))
	reconciles0 := reconcileCount(t, metricsAddr)
	window := time.Duration(size(15, 60)) * time.Second
	time.Sleep(window) // the measurement window: nothing is expected to happen in it
	calls := len(sim.Calls(func(c blandsim.Call) bool { return c.Account == "hotloop" || c.Account == "" })) - before
	reconciles := reconcileCount(t, metricsAddr) - reconciles0
	writes := 0
	for _, pb := range stalled {
		var cur v1alpha1.PersonaBinding
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(pb), &cur))
		if cur.ResourceVersion != versions[pb.Name] {
			writes++
		}
	}
	// A missing Secret is retried every minute; nothing else is due.
	if calls != 0 || writes != 0 || reconciles > float64(len(stalled)) {
		t.Errorf("over %s the stalled bindings made %d Bland calls, %d API writes and %.0f reconciles, want 0, 0 and at most %d",
			window, calls, writes, reconciles, len(stalled))
	}
	report(t, "%d stalled bindings (one per reason): %d Bland calls, %d API writes and %.0f reconciles in %s",
		len(stalled), calls, writes, reconciles, window)
}

func readyReason(pb *v1alpha1.PersonaBinding) string {
	for _, c := range pb.Status.Conditions {
		if c.Type == "Ready" {
			return c.Reason
		}
	}
	return ""
}
