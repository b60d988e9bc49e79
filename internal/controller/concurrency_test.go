package controller_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// These tests overlap the operator's own calls with edits and with other
// bindings on purpose. Each checks the promise the status makes: Ready=True
// at a generation means the persona matches that generation's spec.

// arrived waits until a held call is in flight.
func (f *fixture) arrived(h *blandsim.Hold) {
	f.t.Helper()
	select {
	case <-h.Arrived():
	case <-time.After(20 * time.Second):
		f.t.Fatal("the held call never arrived")
	}
}

// detachedEver lists every number any detach call for the persona named.
func (f *fixture) detachedEver() []string {
	var out []string
	for _, c := range f.calls(0) {
		if c.Endpoint == blandsim.EndpointDetach {
			out = append(out, c.Numbers...)
		}
	}
	return out
}

func TestAnEditDuringACallIsNotLost(t *testing.T) {
	f := newFixture(t, 3)
	a, b, c := f.numbers[0], f.numbers[1], f.numbers[2]
	pb := f.create(f.binding("support", a))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	hold := sim.HoldCalls(f.personaID, blandsim.EndpointDetach)
	defer hold.Release()
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{b} })
	f.arrived(hold) // detach a is in flight
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{c} })
	hold.Release()

	got := f.waitFor(pb, v1alpha1.ReasonSynced)
	// The moment the binding claims the newest generation, the persona holds it.
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{c}))
	f.g.Expect(got.Status.BoundNumbers).To(Equal([]string{c}))
	f.g.Expect(got.Status.Summary).To(Equal("1/1"))
}

func TestTheFinalizerFollowsOwnership(t *testing.T) {
	expectDetachedOnDelete := func(f *fixture, pb *v1alpha1.PersonaBinding, numbers ...string) {
		f.t.Helper()
		got := f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(got.Status.BoundNumbers).To(Equal(numbers))
		f.g.Expect(controllerutil.ContainsFinalizer(got, v1alpha1.Finalizer)).To(BeTrue(), "owned numbers with deletionPolicy Detach need the finalizer")
		f.deleteAndWait(pb)
		f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())
	}

	t.Run("when deletionPolicy is switched from Orphan to Detach", func(t *testing.T) {
		f := newFixture(t, 1)
		pb := f.binding("support", f.numbers...)
		pb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		f.create(pb)
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDetach })
		expectDetachedOnDelete(f, pb, f.numbers...)
	})

	// An Orphan binding holding numbers keeps the finalizer: deleted right
	// after a switch to Detach, before any pass could see the switch (the
	// persona's read is held), it still detaches them. (Before, the
	// finalizer came with the first pass after the switch, and the API
	// server deleted the binding at once, its numbers left to nobody.)
	t.Run("when deleted right after a switch from Orphan to Detach", func(t *testing.T) {
		f := newFixture(t, 1)
		pb := f.binding("support", f.numbers...)
		pb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		f.create(pb)
		got := f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(got.Finalizers).To(ContainElement(v1alpha1.Finalizer), "an Orphan binding holding numbers keeps the finalizer")
		hold := sim.HoldCalls(f.personaID, blandsim.EndpointGet)
		defer hold.Release()
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDetach })
		f.g.Expect(k8s.Delete(context.Background(), pb)).To(Succeed())
		f.g.Expect(gone(pb)).To(BeFalse(), "the binding went before its numbers were detached")
		hold.Release()
		f.g.Eventually(func() bool { return gone(pb) }).WithTimeout(20 * time.Second).Should(BeTrue())
		f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())
	})

	t.Run("when a resumed binding adopts numbers that were already attached", func(t *testing.T) {
		f := newFixture(t, 1)
		sim.AttachOutOfBand(f.personaID, f.numbers...)
		pb := f.binding("support", f.numbers...)
		pb.Spec.Suspend = true
		f.create(pb)
		f.waitFor(pb, v1alpha1.ReasonSuspended)
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.Suspend = false })
		expectDetachedOnDelete(f, pb, f.numbers...)
	})

	t.Run("when an exclusive binding's first sync finds its numbers attached", func(t *testing.T) {
		f := newFixture(t, 1)
		sim.AttachOutOfBand(f.personaID, f.numbers...)
		pb := f.binding("support", f.numbers...)
		pb.Spec.Exclusive = true
		f.create(pb)
		expectDetachedOnDelete(f, pb, f.numbers...)
	})
}

func TestADroppedNumberAnotherBindingWantsIsHandedOver(t *testing.T) {
	t.Run("when the older binding drops it from its spec", func(t *testing.T) {
		f := newFixture(t, 2)
		shared, own := f.numbers[0], f.numbers[1]
		sim.SetPersonaLatency(f.personaID, 300*time.Millisecond)
		defer sim.SetPersonaLatency(f.personaID, 0)
		older := f.create(f.binding("a-older", shared, own))
		f.waitFor(older, v1alpha1.ReasonSynced)
		younger := f.create(f.binding("b-younger", shared))
		f.waitFor(younger, v1alpha1.ReasonNumberConflict)

		f.update(older, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{own} })
		gotOlder := f.waitFor(older, v1alpha1.ReasonSynced)
		gotYounger := f.waitFor(younger, v1alpha1.ReasonSynced)
		f.g.Expect(f.detachedEver()).NotTo(ContainElement(shared), "a number another binding wants was detached")
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{shared, own}))
		f.g.Expect(gotOlder.Status.BoundNumbers).To(Equal([]string{own}))
		f.g.Expect(gotYounger.Status.BoundNumbers).To(Equal([]string{shared}))
		// Both bindings are told, each in its own words.
		f.g.Eventually(func() []string { return f.warnings("HandedOver") }).WithTimeout(5 * time.Second).Should(ConsistOf(
			"Handed "+shared+" over to PersonaBinding "+f.ns+"/b-younger, which lists it (no call to Bland)",
			"Took over "+shared+" from PersonaBinding "+f.ns+"/a-older, which no longer holds it (no call to Bland)"))
	})

	t.Run("when the older binding is deleted", func(t *testing.T) {
		f := newFixture(t, 1)
		shared := f.numbers[0]
		older := f.create(f.binding("a-older", shared))
		f.waitFor(older, v1alpha1.ReasonSynced)
		younger := f.create(f.binding("b-younger", shared))
		f.waitFor(younger, v1alpha1.ReasonNumberConflict)

		f.deleteAndWait(older)
		got := f.waitFor(younger, v1alpha1.ReasonSynced)
		f.g.Expect(f.detachedEver()).To(BeEmpty())
		f.g.Expect(got.Status.BoundNumbers).To(Equal([]string{shared}))
		f.g.Expect(got.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	})

	t.Run("but not to a suspended binding, which could not take it", func(t *testing.T) {
		f := newFixture(t, 1)
		shared := f.numbers[0]
		older := f.create(f.binding("a-older", shared))
		f.waitFor(older, v1alpha1.ReasonSynced)
		younger := f.binding("b-younger", shared)
		younger.Spec.Suspend = true
		f.create(younger)
		f.waitFor(younger, v1alpha1.ReasonSuspended)

		f.deleteAndWait(older)
		f.g.Expect(f.detachedEver()).To(Equal([]string{shared}))
		f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())
	})
}

func TestTurningExclusiveOnSweepsAtOnce(t *testing.T) {
	f := newFixture(t, 2)
	own, stray := f.numbers[0], f.numbers[1]
	pb := f.create(f.binding("support", own))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	sim.AttachOutOfBand(f.personaID, stray)

	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.Exclusive = true })
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{own}))
}

func TestAnExclusiveLoserSweepsNothing(t *testing.T) {
	f := newFixture(t, 3)
	held, wanted, stray := f.numbers[0], f.numbers[1], f.numbers[2]
	sim.AttachOutOfBand(f.personaID, stray)
	older := f.create(f.binding("a-older", held))
	f.waitFor(older, v1alpha1.ReasonSynced)
	loser := f.binding("b-younger", wanted)
	loser.Spec.Exclusive = true
	f.create(loser)
	f.waitFor(loser, v1alpha1.ReasonNumberConflict)
	f.requestResync(loser)

	f.g.Expect(f.detachedEver()).To(BeEmpty())
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{held, stray}))
}

func TestDeletionDetachesInBatches(t *testing.T) {
	f := newFixture(t, 250)
	pb := f.create(f.binding("many", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	mark := f.mark()
	f.deleteAndWait(pb)

	detached := 0
	for _, c := range f.calls(mark) {
		f.g.Expect(c.Endpoint).To(Equal(blandsim.EndpointDetach))
		f.g.Expect(len(c.Numbers)).To(BeNumerically("<=", 100), "a detach call larger than the batch size")
		detached += len(c.Numbers)
	}
	f.g.Expect(detached).To(Equal(250))
	f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())
}

func TestARefusedAttachThatNamesNoNumberFindsTheCulprit(t *testing.T) {
	f := newFixture(t, 3)
	sim.SetTerseErrors(f.account, true)
	foreign := f.foreign(0)
	pb := f.create(f.binding("support", append([]string{foreign}, f.numbers...)...))

	got := f.waitFor(pb, v1alpha1.ReasonNumberNotOwned)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	f.g.Expect(readyMessage(got)).To(ContainSubstring(foreign))
	for _, n := range f.numbers {
		f.g.Expect(readyMessage(got)).NotTo(ContainSubstring(n))
	}
}

var _ = context.Background

func TestCallsToOnePersonaNeverOverlap(t *testing.T) {
	f := newFixture(t, 4)
	a := f.create(f.binding("a", f.numbers[0]))
	b := f.create(f.binding("b", f.numbers[1]))
	f.waitFor(a, v1alpha1.ReasonSynced)
	f.waitFor(b, v1alpha1.ReasonSynced)
	sim.SetPersonaLatency(f.personaID, 300*time.Millisecond)
	defer sim.SetPersonaLatency(f.personaID, 0)

	mark := f.mark()
	f.update(a, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{f.numbers[0], f.numbers[2]} })
	f.update(b, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{f.numbers[1], f.numbers[3]} })
	f.waitFor(a, v1alpha1.ReasonSynced)
	f.waitFor(b, v1alpha1.ReasonSynced)

	calls := f.calls(mark)
	f.g.Expect(len(calls)).To(BeNumerically(">=", 2))
	for i := range calls {
		for j := i + 1; j < len(calls); j++ {
			overlap := calls[i].Time.Before(calls[j].Done) && calls[j].Time.Before(calls[i].Done)
			f.g.Expect(overlap).To(BeFalse(), "two calls to one persona were in flight together: %+v and %+v", calls[i], calls[j])
		}
	}
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
}

func TestAStopWaitsForTheCallInFlightAndRecordsIt(t *testing.T) {
	f := newFixture(t, 2)
	kept, extra := f.numbers[0], f.numbers[1]
	pb := f.create(f.binding("support", kept))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	// The manager is asked to stop while its attach of extra is held in
	// flight: graceful shutdown lets the call finish and records its answer.
	hold := sim.HoldCalls(f.personaID, blandsim.EndpointAttach)
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{kept, extra} })
	f.arrived(hold)
	stopped := make(chan struct{})
	go func() { mgrStop(); close(stopped) }()
	f.g.Consistently(stopped).WithTimeout(time.Second).ShouldNot(BeClosed(), "the manager stopped with a call in flight")
	hold.Release()
	f.g.Eventually(stopped).WithTimeout(20 * time.Second).Should(BeClosed())
	f.g.Expect(sim.Attached(f.personaID)).To(ContainElement(extra))
	f.g.Expect(f.get(pb).Status.BoundNumbers).To(ContainElement(extra), "the answer of the call was not recorded")

	// The user changes their mind while the operator is down.
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{kept} })
	stop, err := startManager()
	f.g.Expect(err).NotTo(HaveOccurred())
	mgrStop = stop

	got := f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{kept}), "a number attached by the call in flight leaked")
	f.g.Expect(got.Status.BoundNumbers).To(Equal([]string{kept}))
}
