package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

const (
	flakyQPS   = 20
	flakyBurst = 20
)

// TestFlakyBlandConverges edits many bindings while 30% of calls to Bland fail
// in every way it can fail, then stops the faults and checks that everything
// converges and that the history never broke a promise.
func TestFlakyBlandConverges(t *testing.T) {
	bindings, edits, perPersona := size(30, 200), size(3, 5), 10
	ns, numbers := account(t, "flaky", bindings*4)
	personas := make([]string, (bindings+perPersona-1)/perPersona)
	for i := range personas {
		personas[i] = fmt.Sprintf("flaky-persona-%d", i)
		sim.AddPersona("sk-flaky", personas[i], personas[i])
	}
	// Each binding owns four numbers: two stay in its spec for the whole run
	// (they must never be detached), two come and go.
	stable := map[string]bool{}
	ctx := context.Background()
	for i := range bindings {
		stable[numbers[4*i]], stable[numbers[4*i+1]] = true, true
		pb := &v1alpha1.PersonaBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b-%03d", i), Namespace: ns},
			Spec: v1alpha1.PersonaBindingSpec{
				PersonaID:      personas[i/perPersona],
				InboundNumbers: []string{numbers[4*i], numbers[4*i+1], numbers[4*i+2]},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
			},
		}
		must(t, k8s.Create(ctx, pb))
	}

	sim.InjectRandom(0.3, 42,
		blandsim.Fault{Kind: blandsim.FaultStatus, Status: 500, Account: "flaky"},
		blandsim.Fault{Kind: blandsim.FaultStatus, Status: 502, Account: "flaky"},
		blandsim.Fault{Kind: blandsim.FaultStatus, Status: 503, Account: "flaky"},
		blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: "2", Account: "flaky"},
		blandsim.Fault{Kind: blandsim.FaultReset, Account: "flaky"},
		blandsim.Fault{Kind: blandsim.FaultHang, Duration: 30 * time.Second, Account: "flaky"},
		blandsim.Fault{Kind: blandsim.FaultEnvelope, Code: "INTERNAL_ERROR", Account: "flaky"},
	)
	startManager(t, "--api-qps", strconv.Itoa(flakyQPS), "--api-burst", strconv.Itoa(flakyBurst))

	rng := rand.New(rand.NewPCG(7, 7))
	for round := range edits {
		for i := range bindings {
			a, b, c, d := numbers[4*i], numbers[4*i+1], numbers[4*i+2], numbers[4*i+3]
			key := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("b-%03d", i)}
			must(t, update(ctx, key, func(pb *v1alpha1.PersonaBinding) {
				switch rng.IntN(3) {
				case 0: // add or drop the churn numbers
					pb.Spec.InboundNumbers = []string{a, b}
					if round%2 == 0 {
						pb.Spec.InboundNumbers = append(pb.Spec.InboundNumbers, d)
					}
				case 1:
					pb.Spec.InboundNumbers = []string{a, b, c, d}
				default: // settings on a stable number
					pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: a, PathwaySettings: v1alpha1.PathwaySettings{PathwayID: fmt.Sprintf("p-%d", round)}}}
				}
				if !slices.Contains(pb.Spec.InboundNumbers, a) {
					pb.Spec.NumberSettings = nil
				}
			}))
		}
	}

	sim.ClearFaults()
	took := waitConverged(t, ns, personas, 60*time.Second)

	history := sim.Calls(func(c blandsim.Call) bool { return c.Account == "flaky" })
	faults := 0
	for _, c := range history {
		if c.Fault != "" {
			faults++
		}
	}
	checkNoStableNumberDetached(t, history, stable)
	checkRetryAfterHonoured(t, history)
	peak := checkRateWithinBucket(t, history)
	report(t, "%d bindings x %d edits, %d calls (%d faulted), converged %.1fs after the faults stopped, peak %d calls in any 1s window (bucket %d/s burst %d)",
		bindings, edits, len(history), faults, took.Seconds(), peak, flakyQPS, flakyBurst)
}

func checkNoStableNumberDetached(t *testing.T, history []blandsim.Call, stable map[string]bool) {
	t.Helper()
	for _, c := range history {
		if c.Endpoint != blandsim.EndpointDetach || c.Status != 200 {
			continue
		}
		for _, n := range c.Numbers {
			if stable[n] {
				t.Errorf("%s was detached at %s although every spec version listed it", n, c.Time.Format(time.StampMilli))
			}
		}
	}
}

// checkRetryAfterHonoured: after a 429 reached the client, no new call with
// the same key starts before Retry-After is up. Calls that were already on
// their way (started within 100ms of the answer) are not counted.
func checkRetryAfterHonoured(t *testing.T, history []blandsim.Call) {
	t.Helper()
	const slack = 100 * time.Millisecond
	for _, limited := range history {
		if limited.Status != 429 {
			continue
		}
		secs, _ := strconv.Atoi(limited.RetryAfter)
		from, until := limited.Done.Add(slack), limited.Done.Add(time.Duration(secs)*time.Second-slack)
		for _, c := range history {
			if c.Time.After(from) && c.Time.Before(until) {
				t.Errorf("a call at %s came inside the Retry-After of the 429 answered at %s",
					c.Time.Format(time.StampMilli), limited.Done.Format(time.StampMilli))
				return
			}
		}
	}
}

// checkRateWithinBucket returns the most calls started in any one-second
// window, and fails if it is more than the token bucket allows.
func checkRateWithinBucket(t *testing.T, history []blandsim.Call) int {
	t.Helper()
	peak := blandsim.MostInASecond(history)
	// The bucket grants at most burst + qps tokens in a second; a request
	// reaches the simulator a moment after its token, so allow 200ms of skew.
	if allowed := flakyBurst + flakyQPS*12/10; peak > allowed {
		t.Errorf("%d calls in one second; the bucket allows %d", peak, allowed)
	}
	return peak
}
