package controller_test

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// Bindings of one persona normally share a key. When their keys differ, each
// number's calls use the key of the binding they are made for, and a key
// Bland refuses stalls only the bindings that use it.
func TestBindingsOfOnePersonaWithDifferentKeys(t *testing.T) {
	t.Run("two keys of one account: each binding's numbers go with its own key", func(t *testing.T) {
		f := newFixture(t, 2)
		second := f.apiKey + "-second"
		sim.AddAccount(f.account, second) // another key of the same account
		f.secret("second", second)
		a := f.create(f.binding("a", f.numbers[0]))
		b := f.binding("b", f.numbers[1])
		b.Spec.CredentialsRef.Name = "second"
		f.create(b)
		f.waitFor(a, v1alpha1.ReasonSynced)
		f.waitFor(b, v1alpha1.ReasonSynced)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))

		// With a's key revoked, b's change still goes through with b's key.
		sim.RevokeKey(f.apiKey)
		defer sim.RestoreKey(f.apiKey)
		mark := f.mark()
		f.update(b, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{} })
		f.waitFor(b, v1alpha1.ReasonSynced)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[0]}))
		calls := f.calls(mark)
		f.g.Expect(endpoints(calls)).To(Equal([]blandsim.Endpoint{blandsim.EndpointDetach}))
		f.g.Expect(calls[0].Status).To(Equal(200), "b's detach did not use b's key")
	})

	t.Run("a key Bland refuses stalls only the binding that uses it", func(t *testing.T) {
		f := newFixture(t, 2)
		f.secret("wrong", "sk-not-a-key")
		good := f.create(f.binding("a-good", f.numbers[0]))
		bad := f.binding("b-bad", f.numbers[1])
		bad.Spec.CredentialsRef.Name = "wrong"
		f.create(bad)
		f.waitFor(good, v1alpha1.ReasonSynced)
		got := f.waitFor(bad, v1alpha1.ReasonUnauthorized)
		f.g.Expect(got.Status.BoundNumbers).To(BeEmpty(), "a number claimed for a refused key was kept")
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[0]}))

		// Its refused key is not used again until its retry: a change to
		// its neighbour costs the neighbour's calls only.
		mark := f.mark()
		f.update(good, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{} })
		f.waitFor(good, v1alpha1.ReasonSynced)
		f.g.Expect(endpoints(f.calls(mark))).To(Equal([]blandsim.Endpoint{blandsim.EndpointDetach}))
		f.g.Expect(readyReasonOf(f.get(bad))).To(Equal(v1alpha1.ReasonUnauthorized))

		// It owns nothing, so it goes at once when deleted.
		f.deleteAndWait(bad)
	})
}
