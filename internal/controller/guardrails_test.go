package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/metrics"
	"github.com/bland-operator/bland-operator/internal/persona"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// detaches returns the numbers of every detach call after mark.
func (f *fixture) detaches(mark int) [][]string {
	var out [][]string
	for _, c := range f.calls(mark) {
		if c.Endpoint == blandsim.EndpointDetach {
			out = append(out, c.Numbers)
		}
	}
	return out
}

func TestDetachLimit(t *testing.T) {
	f := newFixture(t, 4)
	pb := f.binding("guarded", f.numbers...)
	pb.Spec.DetachLimit = ptr(int32(1))
	f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)

	mark := f.mark()
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers[:1] })
	got := f.waitFor(pb, v1alpha1.ReasonDetachLimitExceeded)
	f.g.Expect(f.detaches(mark)).To(BeEmpty())
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers))
	f.g.Expect(got.Status.PendingDetach).To(Equal(f.numbers[1:]))
	f.g.Expect(readyMessage(got)).To(ContainSubstring("3 numbers would be detached"))
	f.g.Expect(readyMessage(got)).To(ContainSubstring(v1alpha1.ApproveDetachAnnotation + "=" + persona.ApprovalFor(got.Generation, f.numbers[1:])))
	f.g.Expect(kstatus(f.g, got)).To(Equal(status.FailedStatus))
	f.g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())

	t.Run("an approval for an older generation does nothing", func(t *testing.T) {
		f.annotate(pb, v1alpha1.ApproveDetachAnnotation, fmt.Sprint(got.Generation-1))
		f.requestResync(pb)
		f.g.Expect(f.detaches(mark)).To(BeEmpty())
		f.g.Expect(f.get(pb).Status.PendingDetach).To(Equal(f.numbers[1:]))
	})

	t.Run("an approval of another set of numbers does nothing, and says so", func(t *testing.T) {
		f.annotate(pb, v1alpha1.ApproveDetachAnnotation, persona.ApprovalFor(got.Generation, f.numbers[1:3]))
		f.requestResync(pb)
		f.g.Expect(f.detaches(mark)).To(BeEmpty())
		cur := f.get(pb)
		f.g.Expect(cur.Status.PendingDetach).To(Equal(f.numbers[1:]))
		f.g.Expect(readyMessage(cur)).To(ContainSubstring("is for another generation or another set of numbers"))
	})

	t.Run("approving the current generation detaches exactly the pending numbers in one call", func(t *testing.T) {
		f.annotate(pb, v1alpha1.ApproveDetachAnnotation, persona.ApprovalFor(got.Generation, f.numbers[1:]))
		done := f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(f.detaches(mark)).To(Equal([][]string{f.numbers[1:]}))
		f.g.Expect(done.Status.PendingDetach).To(BeEmpty())
		f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers[:1]))
	})

	t.Run("an approval naming only the generation is accepted, with a warning", func(t *testing.T) {
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers })
		f.waitFor(pb, v1alpha1.ReasonSynced)
		m := f.mark()
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers[:1] })
		held := f.waitFor(pb, v1alpha1.ReasonDetachLimitExceeded)
		f.annotate(pb, v1alpha1.ApproveDetachAnnotation, fmt.Sprint(held.Generation))
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(f.detaches(m)).To(Equal([][]string{f.numbers[1:]}))
		f.g.Eventually(func() []string { return f.warnings("ApprovalWithoutNumbers") }).WithTimeout(5 * time.Second).ShouldNot(BeEmpty())
	})

	t.Run("a change within the limit needs no approval", func(t *testing.T) {
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers[:2] })
		f.waitFor(pb, v1alpha1.ReasonSynced)
		m := f.mark()
		f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers[:1] })
		f.waitFor(pb, v1alpha1.ReasonSynced)
		f.g.Expect(f.detaches(m)).To(Equal([][]string{{f.numbers[1]}}))
	})
}

func TestTheManagerDefaultDetachLimitAndABindingsOwnZero(t *testing.T) {
	f := newFixture(t, 120)
	byDefault := f.create(f.binding("by-default", f.numbers[:60]...))
	noLimit := f.binding("no-limit", f.numbers[60:]...)
	noLimit.Spec.DetachLimit = ptr(int32(0))
	f.create(noLimit)
	f.waitFor(byDefault, v1alpha1.ReasonSynced)
	f.waitFor(noLimit, v1alpha1.ReasonSynced)

	f.update(byDefault, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{} })
	f.update(noLimit, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = []string{} })
	got := f.waitFor(byDefault, v1alpha1.ReasonDetachLimitExceeded)
	f.g.Expect(readyMessage(got)).To(ContainSubstring("over the detach limit of 50"))
	f.waitFor(noLimit, v1alpha1.ReasonSynced)
	f.g.Expect(sim.Attached(f.personaID)).To(Equal(f.numbers[:60]))
}

func TestDriftIsRepairedReportedAndCountedOnce(t *testing.T) {
	f := newFixture(t, 3)
	own, pathway, stray := f.numbers[0], f.numbers[1], f.numbers[2]
	pb := f.binding("drifty", own, pathway)
	pb.Spec.Exclusive = true
	pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: pathway, PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "p1"}}}
	f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	direct, err := bland.New(bland.Options{BaseURL: simURL, AllowInsecure: true, QPS: 50, Burst: 50})
	f.g.Expect(err).NotTo(HaveOccurred())

	driftEvents := func() []string {
		var evs eventsv1.EventList
		f.g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(f.ns))).To(Succeed())
		var out []string
		for _, e := range evs.Items {
			if e.Reason == "DriftRepaired" {
				out = append(out, e.Note)
			}
		}
		return out
	}
	counted := func(kind string) float64 { return testutil.ToFloat64(metrics.DriftRepairs.WithLabelValues(kind)) }

	tests := []struct {
		name, kind, mention string
		drift               func()
		check               func(g Gomega)
	}{{
		name: "an owned number detached out of band", kind: "attach", mention: own,
		drift: func() { sim.DetachOutOfBand(f.personaID, own) },
		check: func(g Gomega) { g.Expect(sim.Attached(f.personaID)).To(ContainElement(own)) },
	}, {
		name: "settings changed out of band", kind: "settings", mention: pathway,
		drift: func() {
			_, err := direct.UpdateNumberSettings(context.Background(), f.apiKey, f.personaID, pathway, &bland.Settings{PathwayID: "elsewhere"})
			f.g.Expect(err).NotTo(HaveOccurred())
		},
		check: func(g Gomega) { g.Expect(sim.SettingsOf(f.personaID, pathway).PathwayID).To(Equal("p1")) },
	}, {
		name: "an unlisted number on an exclusive binding's persona", kind: "detach", mention: stray,
		drift: func() { sim.AttachOutOfBand(f.personaID, stray) },
		check: func(g Gomega) { g.Expect(sim.Attached(f.personaID)).NotTo(ContainElement(stray)) },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, count := len(driftEvents()), counted(tt.kind)
			tt.drift()
			f.requestResync(pb)
			f.g.Eventually(tt.check).Should(Succeed())
			f.g.Eventually(func() int { return len(driftEvents()) }).WithTimeout(10 * time.Second).Should(Equal(before + 1))
			f.g.Expect(strings.Join(driftEvents(), "\n")).To(ContainSubstring(tt.mention))
			f.g.Expect(counted(tt.kind) - count).To(Equal(1.0))

			// A second look finds nothing more to report.
			f.requestResync(pb)
			f.g.Expect(driftEvents()).To(HaveLen(before + 1))
			f.g.Expect(counted(tt.kind) - count).To(Equal(1.0))
		})
	}
}
