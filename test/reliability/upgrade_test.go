package reliability

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// An upgrade from the last release's binary while its attach is in flight:
// the release is killed (as a node loss or a forced rollout would) with the
// attach of a newly listed number unanswered, the number is dropped from the
// spec, and this tree's manager takes over; the attach lands after it
// started. The release recorded its claim in the status before the call:
// the new manager must read that form, keep the binding Reconciling until
// the call can no longer land, then detach the number. Checked all along:
// once the attach has landed, the binding never says Ready while the
// dropped number is attached.
func TestAnUpgradeFromTheLastReleaseMidAttachLeaksNothing(t *testing.T) {
	released := releaseManager(t)
	ns, numbers := account(t, "upgrade", 2)
	p := "upgrade-p"
	sim.AddPersona("sk-upgrade", p, p)
	sim.SetLateLanding(4 * time.Second) // after the new leader has started
	t.Cleanup(func() { sim.SetLateLanding(0) })
	ctx := context.Background()
	key := client.ObjectKey{Namespace: ns, Name: "support"}
	must(t, k8s.Create(ctx, &v1alpha1.PersonaBinding{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: ns},
		Spec: v1alpha1.PersonaBindingSpec{PersonaID: p, InboundNumbers: numbers[:1],
			CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
	}))
	old := startBinary(t, released, leaderElection(ns)...)
	waitFor(t, "the release to attach the first number", 60*time.Second, func() bool {
		return slices.Equal(sim.Attached(p), numbers[:1]) && syncedAtGeneration(ctx, key)
	})

	hold := sim.HoldCalls(p, blandsim.EndpointAttach)
	t.Cleanup(hold.Release)
	must(t, update(ctx, key, func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = numbers }))
	select {
	case <-hold.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("the release never sent the attach of the second number")
	}
	old.kill() // its attach is abandoned, and lands later
	killedAt := time.Now()
	must(t, update(ctx, key, func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = numbers[:1] }))
	startManager(t, leaderElection(ns)...)

	dropped := numbers[1]
	landed := func() bool {
		return len(sim.Calls(func(c blandsim.Call) bool {
			return c.Late && c.Endpoint == blandsim.EndpointAttach && slices.Contains(c.Numbers, dropped)
		})) > 0
	}
	var lie string
	t.Cleanup(func() {
		if lie != "" {
			t.Errorf("the binding said Ready (%s) while %s, which its spec dropped, was attached", lie, dropped)
		}
	})
	waitFor(t, "the dropped number detached after the late attach landed", 90*time.Second, func() bool {
		hasLanded := landed()
		attached := slices.Contains(sim.Attached(p), dropped)
		var pb v1alpha1.PersonaBinding
		if err := k8s.Get(ctx, key, &pb); err != nil {
			return false
		}
		ready := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
		if hasLanded && attached && ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == pb.Generation && lie == "" {
			lie = ready.Reason + ": " + ready.Message
		}
		return hasLanded && !attached && syncedAtGeneration(ctx, key)
	})
	if got := sim.Attached(p); !slices.Equal(got, numbers[:1]) {
		t.Errorf("the persona holds %v, want %v", got, numbers[:1])
	}
	report(t, "the release killed mid-attach; the new manager detached the late-landed number %.1fs after the kill", time.Since(killedAt).Seconds())
}

// syncedAtGeneration says the binding is Ready Synced for its generation.
func syncedAtGeneration(ctx context.Context, key client.ObjectKey) bool {
	var pb v1alpha1.PersonaBinding
	if err := k8s.Get(ctx, key, &pb); err != nil {
		return false
	}
	ready := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	return ready != nil && ready.Reason == v1alpha1.ReasonSynced && ready.ObservedGeneration == pb.Generation && pb.Status.ObservedGeneration == pb.Generation
}

// waitFor polls cond every 20 ms until it holds, or fails the test.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
