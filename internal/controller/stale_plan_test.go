package controller_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// A detach waits in the client while the key sits out another persona's
// Retry-After; meanwhile the user lists the number again. The detach, looked
// at once more just before it is sent, is not sent: a number that is wanted
// is never taken, however long a call waited for its turn.
func TestADetachPlannedBeforeTheNumberWasListedAgainIsNotSent(t *testing.T) {
	f := newFixture(t, 4)
	n1, n2, n3, other := f.numbers[0], f.numbers[1], f.numbers[2], f.numbers[3]
	otherPersona := f.personaID + "-other"
	sim.AddPersona(f.apiKey, otherPersona, "Other")
	pb := f.create(f.binding("support", n1, n2))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	sales := f.binding("sales", other)
	sales.Spec.PersonaID = otherPersona
	f.create(sales)
	f.waitFor(sales, v1alpha1.ReasonSynced)

	// The other persona's next read is answered 429, Retry-After 2 s: the
	// client holds every call of the key for two seconds.
	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: "2", Account: f.account, Endpoint: blandsim.EndpointGet}, 1)
	f.annotate(sales, v1alpha1.ReconcileRequestedAtAnnotation, time.Now().String())
	f.g.Eventually(func() bool {
		return slices.ContainsFunc(sim.CallsFor(otherPersona), func(c blandsim.Call) bool { return c.Status == 429 })
	}).WithTimeout(10 * time.Second).Should(BeTrue())

	// Drop n2 and add n3: the pass writes its intent for n3, then its
	// detach of n2 waits for the key.
	mark := f.mark()
	f.update(pb, func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = []string{n1, n3} })
	f.g.Eventually(func() string { return f.get(pb).Annotations[v1alpha1.IntentAnnotation] }).
		WithTimeout(5*time.Second).WithPolling(5*time.Millisecond).Should(ContainSubstring(n3), "the pass did not plan the change")
	f.update(pb, func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = []string{n1, n2, n3} })

	got := f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(got.Status.BoundNumbers).To(ConsistOf(n1, n2, n3))
	for _, c := range f.calls(mark) {
		if c.Endpoint == blandsim.EndpointDetach && c.Status == 200 && slices.Contains(c.Numbers, n2) {
			t.Errorf("%s was detached at %s, after the user listed it again: %s", n2, c.Time.Format("15:04:05.000"), strings.Join(c.Numbers, ","))
		}
	}
	f.g.Expect(sim.Attached(f.personaID)).To(ConsistOf(n1, n2, n3))
}
