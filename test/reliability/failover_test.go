package reliability

import (
	"context"
	"syscall"
	"testing"
	"time"

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
	args := []string{"--leader-elect", "--leader-election-namespace", ns}
	a, b := startManager(t, args...), startManager(t, args...)
	leader, standby := waitLeader(t, a, b)
	waitConverged(t, ns, []string{"failover-persona"}, 30*time.Second)

	leader.signal(syscall.SIGTERM)
	released := changeAndWait(t, key, numbers[:2])
	if released > 5*time.Second {
		t.Errorf("after SIGTERM of the leader a change took %s, want <= 5s", released)
	}

	leader = standby
	startManager(t, args...) // a new standby
	leader.kill()
	expired := changeAndWait(t, key, numbers[:3])
	if expired > 25*time.Second {
		t.Errorf("after SIGKILL of the leader a change took %s, want about lease duration + retry (<= 25s)", expired)
	}
	report(t, "change applied %.1fs after SIGTERM of the leader, %.1fs after SIGKILL", released.Seconds(), expired.Seconds())
}

func waitLeader(t *testing.T, a, b *manager) (leader, standby *manager) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		switch {
		case a.logContains("Successfully acquired lease"):
			return a, b
		case b.logContains("Successfully acquired lease"):
			return b, a
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no manager became leader")
	return nil, nil
}

// changeAndWait sets the binding's numbers and returns how long until the
// persona carries exactly them.
func changeAndWait(t *testing.T, key client.ObjectKey, want []string) time.Duration {
	t.Helper()
	start := time.Now()
	must(t, update(context.Background(), key, func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = want }))
	return time.Since(start) + waitConverged(t, key.Namespace, []string{"failover-persona"}, 40*time.Second)
}
