package controller_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

func TestPermanentFailuresStallWithTheirReason(t *testing.T) {
	tests := []struct {
		name    string
		reason  string
		message string
		setup   func(f *fixture, pb *v1alpha1.PersonaBinding)
	}{{
		name:    "a missing Secret",
		reason:  v1alpha1.ReasonCredentialsNotFound,
		message: `Secret "missing" not found`,
		setup:   func(f *fixture, pb *v1alpha1.PersonaBinding) { pb.Spec.CredentialsRef.Name = "missing" },
	}, {
		name:    "a Secret without the key",
		reason:  v1alpha1.ReasonCredentialsNotFound,
		message: `has no key "token"`,
		setup:   func(f *fixture, pb *v1alpha1.PersonaBinding) { pb.Spec.CredentialsRef.Key = "token" },
	}, {
		name:    "a key Bland rejects with 401",
		reason:  v1alpha1.ReasonUnauthorized,
		message: "HTTP 401",
		setup: func(f *fixture, pb *v1alpha1.PersonaBinding) {
			f.secret("wrong", "sk-not-a-real-key")
			pb.Spec.CredentialsRef.Name = "wrong"
		},
	}, {
		name:    "a persona that does not exist (HTTP 200 with an errors list)",
		reason:  v1alpha1.ReasonPersonaNotFound,
		message: "does not exist",
		setup:   func(f *fixture, pb *v1alpha1.PersonaBinding) { pb.Spec.PersonaID = "no-such-persona-" + f.ns },
	}, {
		name:    "a request Bland refuses as invalid (HTTP 400)",
		reason:  v1alpha1.ReasonRequestRejected,
		message: "HTTP 400 INVALID_REQUEST",
		setup: func(f *fixture, pb *v1alpha1.PersonaBinding) {
			body := `{"data":null,"errors":[{"error":"INVALID_REQUEST","message":"bad input"}]}`
			sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultBody, Status: 400, Body: []byte(body), Account: f.account, Endpoint: blandsim.EndpointAttach}, 1)
		},
	}, {
		name:    "a number that is not in the account",
		reason:  v1alpha1.ReasonNumberNotOwned,
		message: "numbers not in the Bland account: +1999",
		setup: func(f *fixture, pb *v1alpha1.PersonaBinding) {
			pb.Spec.InboundNumbers = append(pb.Spec.InboundNumbers, f.foreign(0))
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1)
			pb := f.binding("support", f.numbers...)
			tt.setup(f, pb)
			f.create(pb)
			got := f.waitFor(pb, tt.reason)

			f.g.Expect(readyMessage(got)).To(ContainSubstring(tt.message))
			f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
			f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeNil())
			f.g.Expect(kstatus(f.g, got)).To(Equal(status.FailedStatus))

			// However often it is reconciled, a stalled binding does not call
			// Bland again before its retry time. A sibling binding of the same
			// persona, with no credentials (so it calls nothing), wakes it
			// through the manager's own workers at each of its spec changes.
			before := len(sim.CallsFor(pb.Spec.PersonaID))
			f.g.Expect(before).To(BeNumerically("<=", 2))
			sibling := f.binding("sibling")
			sibling.Spec.PersonaID = pb.Spec.PersonaID
			sibling.Spec.CredentialsRef.Name = "absent"
			f.create(sibling)
			for i := range 20 {
				seen := reconciles.count(pb.Spec.PersonaID)
				f.update(sibling, func(cur *v1alpha1.PersonaBinding) {
					cur.Spec.ResyncInterval = &metav1.Duration{Duration: time.Duration(31+i) * time.Second}
				})
				f.g.Eventually(func() int { return reconciles.count(pb.Spec.PersonaID) }).
					WithTimeout(10 * time.Second).Should(BeNumerically(">", seen))
			}
			f.g.Expect(sim.CallsFor(pb.Spec.PersonaID)).To(HaveLen(before))
		})
	}
}

func TestNumberNotOwnedStillAttachesTheOthers(t *testing.T) {
	f := newFixture(t, 1)
	foreign := f.foreign(1)
	pb := f.create(f.binding("support", f.numbers[0], foreign))
	got := f.waitFor(pb, v1alpha1.ReasonNumberNotOwned)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[0]}))
	states := map[string]v1alpha1.NumberState{}
	for _, n := range got.Status.Numbers {
		states[n.Number] = n.State
	}
	f.g.Expect(states).To(Equal(map[string]v1alpha1.NumberState{f.numbers[0]: v1alpha1.NumberAttached, foreign: v1alpha1.NumberNotOwned}))
}

func TestRateLimitedCallsWaitForRetryAfter(t *testing.T) {
	f := newFixture(t, 2)
	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: "2", Account: f.account}, 1)
	pb := f.create(f.binding("support", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	calls := f.calls(0)
	f.g.Expect(len(calls)).To(BeNumerically(">=", 2))
	f.g.Expect(calls[0].Status).To(Equal(429))
	for _, c := range calls[1:] {
		f.g.Expect(c.Time.Sub(calls[0].Time)).To(BeNumerically(">=", 2*time.Second), "a call came inside Retry-After")
	}
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
}

func TestTransientErrorsRetryUntilConverged(t *testing.T) {
	f := newFixture(t, 1)
	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 503, Account: f.account}, 2)
	pb := f.create(f.binding("support", f.numbers...))
	f.g.Eventually(func(g Gomega) {
		cur := f.get(pb)
		g.Expect(meta.IsStatusConditionTrue(cur.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeTrue())
		g.Expect(kstatus(g, cur)).To(Equal(status.InProgressStatus))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	got := f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeNil())
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))

	// The retries backed off: about 1 s after the first failure, 2 s after
	// the second (the workqueue's per-item exponential backoff).
	// After a failure the record is not trusted, so the retry reads first.
	calls := f.calls(0)
	f.g.Expect(endpoints(calls)).To(Equal([]blandsim.Endpoint{blandsim.EndpointAttach, blandsim.EndpointGet, blandsim.EndpointGet, blandsim.EndpointAttach}))
	f.g.Expect(calls[1].Time.Sub(calls[0].Done)).To(BeNumerically(">=", 900*time.Millisecond))
	f.g.Expect(calls[2].Time.Sub(calls[1].Done)).To(BeNumerically(">=", 1800*time.Millisecond))
}

// A resync whose read no key can make is not due again at once: the next
// looks back off (1 s, 2 s, 4 s ..., at most the interval), each reading
// the Secrets once, so a key put right is seen without a spin.
func TestAFailedResyncDoesNotLoop(t *testing.T) {
	f := newFixture(t, 1)
	f.secret("wrong", "sk-not-a-real-key")
	pb := f.binding("refused", f.numbers...)
	pb.Spec.CredentialsRef.Name = "wrong"
	pb.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonUnauthorized)
	sibling := f.binding("sibling")
	sibling.Spec.CredentialsRef.Name = "absent"
	f.create(sibling)
	f.waitFor(sibling, v1alpha1.ReasonCredentialsNotFound)

	// Two intervals later the persona is due; a change of the sibling
	// brings a pass, which reads once and fails; the next reads back off.
	mark := f.mark()
	clock.Advance(time.Minute + time.Second)
	f.update(sibling, func(cur *v1alpha1.PersonaBinding) { cur.Spec.ResyncInterval = &metav1.Duration{Duration: time.Hour} })
	f.g.Eventually(func() int { return len(f.calls(mark)) }).WithTimeout(20 * time.Second).Should(BeNumerically(">=", 4))
	calls := f.calls(mark)
	for i := 2; i < len(calls); i++ {
		prev, gap := calls[i-1].Time.Sub(calls[i-2].Time), calls[i].Time.Sub(calls[i-1].Time)
		f.g.Expect(gap).To(BeNumerically(">=", prev*3/2), "read %d came %v after the one before, which came %v after its own: no backoff", i, gap, prev)
	}
}

// A number Bland refused before is tried again (here after a spec change)
// in a call of its own, after the others: its second refusal never holds
// back a number Bland accepts.
func TestANumberRefusedBeforeIsTriedAgainAlone(t *testing.T) {
	f := newFixture(t, 2)
	foreign := f.foreign(1)
	pb := f.create(f.binding("support", f.numbers[0], foreign))
	f.waitFor(pb, v1alpha1.ReasonNumberNotOwned)
	mark := f.mark()
	f.update(pb, func(cur *v1alpha1.PersonaBinding) {
		cur.Spec.InboundNumbers = append(cur.Spec.InboundNumbers, f.numbers[1])
	})
	f.g.Eventually(func(g Gomega) {
		cur := f.get(pb)
		g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
		g.Expect(readyReasonOf(cur)).To(Equal(v1alpha1.ReasonNumberNotOwned))
		g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[0], f.numbers[1]}))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	var attaches [][]string
	for _, c := range f.calls(mark) {
		if c.Endpoint == blandsim.EndpointAttach {
			attaches = append(attaches, c.Numbers)
		}
	}
	f.g.Expect(attaches).To(Equal([][]string{{f.numbers[1]}, {foreign}}), "the new number alone, then the one refused before alone")
}
