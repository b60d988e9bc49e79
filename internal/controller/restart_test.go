package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

func TestRestartWithEveryBindingInSyncCostsNoCalls(t *testing.T) {
	f := newFixture(t, 5)
	var bindings []*v1alpha1.PersonaBinding
	for i, n := range f.numbers {
		pb := f.binding(fmt.Sprintf("line-%d", i), n)
		if i == 0 {
			pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: n, PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "p1"}}}
		}
		bindings = append(bindings, f.create(pb))
	}
	versions := map[string]string{}
	for _, pb := range bindings {
		versions[pb.Name] = f.waitFor(pb, v1alpha1.ReasonSynced).ResourceVersion
	}

	// Bindings created together cost at most one attach each, attach every
	// number exactly once, and make the one settings call, however their
	// changes fall into passes over the persona (usually one or two attaches).
	var attached []string
	settings := 0
	for _, c := range f.calls(0) {
		switch c.Endpoint {
		case blandsim.EndpointAttach:
			attached = append(attached, c.Numbers...)
		case blandsim.EndpointSettings:
			settings++
		default:
			t.Fatalf("unexpected call %+v", c)
		}
	}
	f.g.Expect(attached).To(ConsistOf(f.numbers))
	f.g.Expect(settings).To(Equal(1))

	mgrStop()
	before := map[string]int{}
	for _, pb := range bindings {
		before[pb.Name] = reconciles.count(pb.Spec.PersonaID)
	}
	mark := f.mark()
	stop, err := startManager()
	f.g.Expect(err).NotTo(HaveOccurred())
	mgrStop = stop

	// Wait until the new manager has reconciled every binding once.
	f.g.Eventually(func(g Gomega) {
		for _, pb := range bindings {
			g.Expect(reconciles.count(pb.Spec.PersonaID)).To(BeNumerically(">", before[pb.Name]), pb.Name)
		}
	}).WithTimeout(30 * time.Second).Should(Succeed())

	f.g.Expect(f.calls(mark)).To(BeEmpty(), "a restart called Bland")
	for _, pb := range bindings {
		cur := &v1alpha1.PersonaBinding{}
		f.g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), cur)).To(Succeed())
		f.g.Expect(cur.ResourceVersion).To(Equal(versions[pb.Name]), "a restart wrote to %s", pb.Name)
	}
}
