package reliability

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// TestLeaderFailover runs two managers with leader election and measures how
// long a change waits when the leader stops: SIGTERM (it releases the Lease)
// and SIGKILL (the standby waits for the Lease to expire).
func TestLeaderFailover(t *testing.T) {
	ns, numbers := account(t, "failover", 4)
	sim.AddPersona("sk-failover", "failover-persona", "Failover")
	ctx := context.Background()
	key := client.ObjectKey{Namespace: ns, Name: "line"}
	must(t, k8s.Create(ctx, newBinding(ns, key.Name, "failover-persona", "bland", numbers[0])))
	args := func(id string) []string {
		return []string{"--leader-elect", "--leader-election-namespace", ns, "--leader-election-identity", id}
	}
	managers := map[string]*manager{"a": startManager(t, args("a")...), "b": startManager(t, args("b")...)}
	leader := managers[waitHolder(t, ns, "a", "b")]
	standby := managers["a"]
	if leader == standby {
		standby = managers["b"]
	}
	waitConverged(t, ns, []string{"failover-persona"}, 30*time.Second)

	leader.signal(syscall.SIGTERM)
	released := changeAndWait(t, key, numbers[:2])
	if released > 5*time.Second {
		t.Errorf("after SIGTERM of the leader a change took %s, want <= 5s", released)
	}
	if got := waitHolder(t, ns, "a", "b"); managers[got] != standby {
		t.Errorf("after SIGTERM the Lease is held by %q, not the standby", got)
	}

	leader = standby
	startManager(t, args("c")...) // a new standby
	leader.kill()
	expired := changeAndWait(t, key, numbers[:3])
	if expired > 25*time.Second {
		t.Errorf("after SIGKILL of the leader a change took %s, want about lease duration + retry (<= 25s)", expired)
	}
	if got := waitHolder(t, ns, "c"); got != "c" {
		t.Errorf("after SIGKILL the Lease is held by %q, not the new standby", got)
	}
	report(t, "change applied %.1fs after SIGTERM of the leader, %.1fs after SIGKILL", released.Seconds(), expired.Seconds())
}

// waitHolder waits until the Lease's holderIdentity is one of ids (the
// managers' --leader-election-identity) and returns it.
func waitHolder(t *testing.T, ns string, ids ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var lease coordinationv1.Lease
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: leaseName}, &lease)
		if err == nil && lease.Spec.HolderIdentity != nil && slices.Contains(ids, *lease.Spec.HolderIdentity) {
			return *lease.Spec.HolderIdentity
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no manager of %v became leader", ids)
	return ""
}

// changeAndWait sets the binding's numbers and returns how long until the
// persona carries exactly them.
func changeAndWait(t *testing.T, key client.ObjectKey, want []string) time.Duration {
	t.Helper()
	start := time.Now()
	must(t, update(context.Background(), key, func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = want }))
	return time.Since(start) + waitConverged(t, key.Namespace, []string{"failover-persona"}, 40*time.Second)
}
