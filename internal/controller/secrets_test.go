package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

func TestAPIKeyNeverLeaks(t *testing.T) {
	f := newFixture(t, 3)
	good := fmt.Sprintf("sk-LEAKCHECK-good-%d", time.Now().UnixNano())
	bad := fmt.Sprintf("sk-LEAKCHECK-bad-%d", time.Now().UnixNano())
	sim.AddAccount(f.account, good)
	f.secret("distinctive", good)
	f.secret("rejected", bad)

	// A happy path with a retry, settings and a detach, and a rejected key.
	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 500, Account: f.account}, 1)
	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultEnvelope, Code: "INTERNAL " + good, Account: f.account}, 1)
	pb := f.binding("good", f.numbers...)
	pb.Spec.CredentialsRef.Name = "distinctive"
	pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: f.numbers[0], PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "p"}}}
	f.create(pb)
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.update(pb, func(cur *v1alpha1.PersonaBinding) {
		cur.Spec.InboundNumbers = f.numbers[:2]
	})
	f.waitFor(pb, v1alpha1.ReasonSynced)
	rejected := f.binding("rejected", f.numbers[2])
	rejected.Spec.CredentialsRef.Name = "rejected"
	f.create(rejected)
	f.waitFor(rejected, v1alpha1.ReasonUnauthorized)

	var everything strings.Builder
	everything.Write(logs.Bytes())
	for _, e := range reconciles.errors() {
		everything.WriteString(e)
	}
	var evs eventsv1.EventList
	f.g.Eventually(func(g Gomega) {
		g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(f.ns))).To(Succeed())
		g.Expect(evs.Items).NotTo(BeEmpty())
	}).Should(Succeed())
	var bindings v1alpha1.PersonaBindingList
	f.g.Expect(k8s.List(context.Background(), &bindings, client.InNamespace(f.ns))).To(Succeed())
	for _, obj := range []any{evs, bindings} {
		b, err := json.Marshal(obj)
		f.g.Expect(err).NotTo(HaveOccurred())
		everything.Write(b)
	}

	f.g.Expect(everything.String()).To(ContainSubstring("Attached"), "the capture is not empty")
	f.g.Expect(everything.String()).NotTo(ContainSubstring(good))
	f.g.Expect(everything.String()).NotTo(ContainSubstring(bad))
}
