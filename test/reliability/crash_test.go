package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// TestCrashConsistency kills the manager with SIGKILL at random moments while
// bindings are edited and deleted, restarts it each time, and checks that the
// end state is exact: personas match their specs, deleted bindings' numbers
// are detached, no finalizer is left behind.
func TestCrashConsistency(t *testing.T) {
	bindings, kills := size(30, 100), size(10, 50)
	ns, numbers := account(t, "crash", bindings*3)
	personas := []string{"crash-a", "crash-b", "crash-c"}
	for _, p := range personas {
		sim.AddPersona("sk-crash", p, p)
	}
	ctx := context.Background()
	for i := range bindings {
		must(t, k8s.Create(ctx, &v1alpha1.PersonaBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c-%03d", i), Namespace: ns},
			Spec: v1alpha1.PersonaBindingSpec{
				PersonaID:      personas[i%len(personas)],
				InboundNumbers: []string{numbers[3*i], numbers[3*i+1]},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
			},
		}))
	}

	// Every call takes 50ms, so that kills land in the middle of the work.
	sim.Latency = 50 * time.Millisecond
	t.Cleanup(func() { sim.Latency = 0 })
	rng := rand.New(rand.NewPCG(11, 11))
	deleted := map[int]bool{}
	interrupted := 0
	for k := range kills {
		id := fmt.Sprintf("crash-%d", k)
		m := startManager(t, append(leaderElection(ns), "--leader-election-identity", id)...)
		waitHolder(t, ns, id) // it leads, so it reconciles
		// A few edits and a deletion while the manager works, then a kill -9 at
		// a random moment of the reconciles they cause.
		for range 5 {
			i := rng.IntN(bindings)
			if deleted[i] {
				continue
			}
			key := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("c-%03d", i)}
			if k%3 == 0 && rng.IntN(2) == 0 {
				deleted[i] = true
				must(t, client.IgnoreNotFound(k8s.Delete(ctx, &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: key.Name}})))
				continue
			}
			must(t, update(ctx, key, func(pb *v1alpha1.PersonaBinding) {
				if len(pb.Spec.InboundNumbers) == 2 {
					pb.Spec.InboundNumbers = append(pb.Spec.InboundNumbers, numbers[3*i+2])
				} else {
					pb.Spec.InboundNumbers = pb.Spec.InboundNumbers[:2]
				}
			}))
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		if done, _ := converged(ctx, ns, personas); !done {
			interrupted++
		}
		m.kill()
	}

	startManager(t, leaderElection(ns)...)
	took := waitConverged(t, ns, personas, 60*time.Second)
	var left v1alpha1.PersonaBindingList
	must(t, k8s.List(ctx, &left, client.InNamespace(ns)))
	for _, pb := range left.Items {
		if !pb.DeletionTimestamp.IsZero() {
			t.Errorf("%s is still deleting, finalizers %v", pb.Name, pb.Finalizers)
		}
	}
	for i := range deleted {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("c-%03d", i)}, &v1alpha1.PersonaBinding{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("deleted binding c-%03d still exists: %v", i, err)
		}
		for _, p := range personas {
			for _, n := range sim.Attached(p) {
				if n == numbers[3*i] || n == numbers[3*i+1] || n == numbers[3*i+2] {
					t.Errorf("%s of deleted binding c-%03d is still attached to %s", n, i, p)
				}
			}
		}
	}
	report(t, "%d bindings, %d kill -9 restarts (%d with work in flight), %d deleted; converged %.1fs after the last restart",
		bindings, kills, interrupted, len(deleted), took.Seconds())
}
