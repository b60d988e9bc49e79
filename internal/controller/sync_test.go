package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

func ptr[T any](v T) *T { return &v }

func endpoints(calls []blandsim.Call) []blandsim.Endpoint {
	var out []blandsim.Endpoint
	for _, c := range calls {
		out = append(out, c.Endpoint)
	}
	return out
}

// A new binding costs the API server two writes by the operator, the least
// a crash-safe operator with a status can make: before the attach, one
// metadata patch with the finalizer and the intent (the numbers the call
// may attach), leaving the status alone; after it, the status, which
// settles that intent. Counted on a watch opened before the create.
func TestANewBindingIsWrittenTwice(t *testing.T) {
	f := newFixture(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	f.g.Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &v1alpha1.PersonaBindingList{}, client.InNamespace(f.ns))
	f.g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()

	pb := f.create(f.binding("support", f.numbers...))
	ready := f.waitFor(pb, v1alpha1.ReasonSynced)
	var writes []*v1alpha1.PersonaBinding
	for ev := range w.ResultChan() {
		got, ok := ev.Object.(*v1alpha1.PersonaBinding)
		if !ok {
			t.Fatalf("the watch ended before the Ready status: %v", ev.Object)
		}
		if ev.Type == watch.Modified {
			writes = append(writes, got)
		}
		if got.ResourceVersion == ready.ResourceVersion {
			break
		}
	}
	f.g.Expect(writes).To(HaveLen(2), "writes up to Ready: %s", describeWrites(writes))
	intent := writes[0]
	f.g.Expect(intent.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	f.g.Expect(intent.Annotations).To(HaveKeyWithValue(v1alpha1.IntentAnnotation, HavePrefix("1:"+strings.Join(f.numbers, ",")+":")),
		"the intent names the numbers and its deadline")
	f.g.Expect(intent.Status.Conditions).To(BeEmpty(), "the status is written once, after the attach")
	f.g.Expect(writes[1].Status.ObservedIntent).To(Equal(int64(1)))
}

func describeWrites(pbs []*v1alpha1.PersonaBinding) string {
	var out []string
	for _, pb := range pbs {
		out = append(out, fmt.Sprintf("{finalizers %v, annotations %v, Ready %q}", pb.Finalizers, pb.Annotations, readyMessage(pb)))
	}
	return strings.Join(out, ", ")
}

func TestNewBindingAttachesItsNumbersAndGoesReady(t *testing.T) {
	f := newFixture(t, 3)
	pb := f.create(f.binding("support", f.numbers...))

	// The create response is the binding before any reconcile: the schema's
	// status default makes it read as in progress.
	f.g.Expect(pb.Status.ObservedGeneration).To(Equal(int64(-1)))
	f.g.Expect(kstatus(f.g, pb)).To(Equal(status.InProgressStatus))

	got := f.waitFor(pb, v1alpha1.ReasonSynced)
	f.g.Expect(kstatus(f.g, got)).To(Equal(status.CurrentStatus))
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeNil())
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
	f.g.Expect(got.Status.BoundNumbers).To(Equal(f.numbers))
	f.g.Expect(got.Status.Summary).To(Equal("3/3"))
	f.g.Expect(got.Status.PersonaName).To(Equal("Persona " + f.personaID))
	f.g.Expect(got.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	// One attach call, no read first.
	f.g.Expect(endpoints(f.calls(0))).To(Equal([]blandsim.Endpoint{blandsim.EndpointAttach}))
}

func TestSpecChangesCostOnlyTheCallsTheyNeed(t *testing.T) {
	f := newFixture(t, 4)
	a, b, c, d := f.numbers[0], f.numbers[1], f.numbers[2], f.numbers[3]
	pb := f.create(f.binding("support", a, b, c))
	f.waitFor(pb, v1alpha1.ReasonSynced)

	t.Run("dropping one number makes exactly one detach call", func(t *testing.T) {
		mark := f.mark()
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{a, b} })
		f.waitFor(pb, v1alpha1.ReasonSynced)
		calls := f.calls(mark)
		f.g.Expect(calls).To(HaveLen(1))
		f.g.Expect(calls[0].Endpoint).To(Equal(blandsim.EndpointDetach))
		f.g.Expect(calls[0].Numbers).To(Equal([]string{c}))
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{a, b}))
	})

	t.Run("adding one and dropping one makes one attach and one detach", func(t *testing.T) {
		mark := f.mark()
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{a, d} })
		got := f.waitFor(pb, v1alpha1.ReasonSynced)
		calls := f.calls(mark)
		f.g.Expect(endpoints(calls)).To(Equal([]blandsim.Endpoint{blandsim.EndpointDetach, blandsim.EndpointAttach}))
		f.g.Expect(calls[0].Numbers).To(Equal([]string{b}))
		f.g.Expect(calls[1].Numbers).To(Equal([]string{d}))
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{a, d}))
		f.g.Expect(got.Status.BoundNumbers).To(Equal([]string{a, d}))
	})
}

func TestNumberSettingsAreAppliedReappliedAndCleared(t *testing.T) {
	f := newFixture(t, 2)
	a, b := f.numbers[0], f.numbers[1]
	pb := f.binding("support", a, b)
	pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: a, PathwaySettings: v1alpha1.PathwaySettings{
		PathwayID: "pathway_abc", PathwayVersion: ptr(int64(2)), StartNodeID: "node_xyz"}}}
	f.create(pb)
	got := f.waitFor(pb, v1alpha1.ReasonSynced)

	want := &blandsim.Settings{PathwayID: "pathway_abc", PathwayVersion: ptr(int64(2)), StartNodeID: "node_xyz"}
	f.g.Expect(sim.SettingsOf(f.personaID, a)).To(Equal(want))
	f.g.Expect(sim.SettingsOf(f.personaID, b)).To(BeNil())
	f.g.Expect(got.Status.Numbers[0].AppliedSettings).NotTo(BeNil())

	t.Run("re-applied after the number is detached and re-attached", func(t *testing.T) {
		sim.DetachOutOfBand(f.personaID, a) // detach clears settings
		mark := f.mark()
		f.requestResync(pb)
		f.g.Expect(sim.SettingsOf(f.personaID, a)).To(Equal(want))
		f.g.Expect(endpoints(f.calls(mark))).To(Equal([]blandsim.Endpoint{
			blandsim.EndpointGet, blandsim.EndpointAttach, blandsim.EndpointSettings}))
	})

	t.Run("cleared when removed from the spec", func(t *testing.T) {
		mark := f.mark()
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.NumberSettings = nil })
		got := f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(sim.SettingsOf(f.personaID, a)).To(BeNil())
		calls := f.calls(mark)
		f.g.Expect(endpoints(calls)).To(Equal([]blandsim.Endpoint{blandsim.EndpointSettings}))
		for _, n := range got.Status.Numbers {
			f.g.Expect(n.AppliedSettings).To(BeNil())
		}
	})
}

func TestNumbersAttachedOutOfBand(t *testing.T) {
	t.Run("are left alone by a normal binding", func(t *testing.T) {
		f := newFixture(t, 2)
		pb := f.create(f.binding("support", f.numbers[0]))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		sim.AttachOutOfBand(f.personaID, f.numbers[1])
		f.requestResync(pb)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
		for _, c := range f.calls(0) {
			f.g.Expect(c.Endpoint).NotTo(Equal(blandsim.EndpointDetach))
		}
	})

	t.Run("are detached by an exclusive binding", func(t *testing.T) {
		f := newFixture(t, 2)
		pb := f.binding("support", f.numbers[0])
		pb.Spec.Exclusive = true
		f.create(pb)
		f.waitFor(pb, v1alpha1.ReasonSynced)
		sim.AttachOutOfBand(f.personaID, f.numbers[1])
		mark := f.mark()
		f.requestResync(pb)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{f.numbers[0]}))
		f.g.Expect(endpoints(f.calls(mark))).To(Equal([]blandsim.Endpoint{blandsim.EndpointGet, blandsim.EndpointDetach}))
	})
}

func TestTwoBindingsClaimingOneNumberNeverMoveIt(t *testing.T) {
	f := newFixture(t, 2)
	shared, own := f.numbers[0], f.numbers[1]
	older := f.create(f.binding("a-older", shared))
	f.waitFor(older, v1alpha1.ReasonSynced)

	// The newer binding wants the same number on another persona of the account.
	other := "other-" + f.personaID
	sim.AddPersona(f.apiKey, other, "Other")
	newer := f.binding("b-newer", shared, own)
	newer.Spec.PersonaID = other
	f.create(newer)

	got := f.waitFor(newer, v1alpha1.ReasonNumberConflict)
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	f.g.Expect(ready.Message).To(ContainSubstring(f.ns + "/a-older"))
	f.g.Expect(ready.Message).To(ContainSubstring(shared))
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	f.g.Expect(kstatus(f.g, got)).To(Equal(status.FailedStatus))
	// Its other number is still attached.
	f.g.Expect(sim.Attached(other)).To(Equal([]string{own}))

	// Both bindings looked again: the older one keeps the number.
	f.requestResync(older)
	f.requestResync(newer)
	f.waitFor(older, v1alpha1.ReasonSynced)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal([]string{shared}))
	for _, c := range sim.CallsFor(other) {
		if c.Endpoint == blandsim.EndpointAttach {
			f.g.Expect(c.Numbers).NotTo(ContainElement(shared), "the shared number was attached to the newer binding's persona")
		}
	}
	for _, c := range f.calls(0) {
		f.g.Expect(c.Endpoint).NotTo(Equal(blandsim.EndpointDetach), "the shared number was detached from the older binding's persona")
	}

	t.Run("the newer binding takes over once the older one lets go", func(t *testing.T) {
		f.update(older, func(cur *v1alpha1.PersonaBinding) {
			cur.Spec.InboundNumbers = []string{}
			cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		})
		f.waitFor(newer, v1alpha1.ReasonSynced)
		f.g.Expect(sim.Attached(other)).To(Equal([]string{shared, own}))
	})
}

func TestSuspendedBindingReportsThePlanAndWritesNothing(t *testing.T) {
	f := newFixture(t, 2)
	pb := f.binding("support", f.numbers...)
	pb.Spec.Suspend = true
	f.create(pb)

	got := f.waitFor(pb, v1alpha1.ReasonSuspended)
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	f.g.Expect(ready.Status).To(BeEquivalentTo("False"))
	f.g.Expect(ready.Message).To(ContainSubstring("would attach " + f.numbers[0] + ", " + f.numbers[1]))
	for _, n := range got.Status.Numbers {
		f.g.Expect(n.State).To(Equal(v1alpha1.NumberPending))
	}
	for _, c := range f.calls(0) {
		f.g.Expect(c.IsWrite()).To(BeFalse(), "a suspended binding wrote to Bland: %+v", c)
	}
	f.g.Expect(sim.Attached(f.personaID)).To(BeEmpty())
	f.g.Expect(got.Finalizers).To(BeEmpty())

	t.Run("resuming applies the plan", func(t *testing.T) {
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.Suspend = false })
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	})
}

var _ = context.Background

// A binding of another persona whose key Bland refuses still has its status
// recomputed when a number it lists moves: every blocking cause is told
// ("Unauthorized ...; also NumberConflict ..."), and when the older holder
// drops the number the conflict leaves its message at once, though its own
// persona cannot be read.
func TestAStalledBindingOfAnotherPersonaIsToldWhenANumberItListsMoves(t *testing.T) {
	f := newFixture(t, 2)
	shared := f.numbers[0]
	older := f.create(f.binding("a-older", shared))
	f.waitFor(older, v1alpha1.ReasonSynced)

	// Its other number needs an attach, which Bland refuses with the key.
	f.secret("refused", "sk-not-a-key-"+f.ns)
	other := "other-" + f.personaID
	newer := f.binding("b-newer", shared, f.numbers[1])
	newer.Spec.PersonaID = other
	newer.Spec.CredentialsRef.Name = "refused"
	f.create(newer)
	got := f.waitFor(newer, v1alpha1.ReasonUnauthorized)
	f.g.Eventually(func(g Gomega) {
		got = f.get(newer)
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring("also NumberConflict"))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	f.update(older, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{} })
	f.waitFor(older, v1alpha1.ReasonSynced)
	f.g.Eventually(func(g Gomega) {
		got = f.get(newer)
		ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonUnauthorized))
		g.Expect(ready.Message).NotTo(ContainSubstring("NumberConflict"), "the conflict is over: %s no longer lists %s", older.Name, shared)
	}).WithTimeout(20 * time.Second).Should(Succeed())
}
