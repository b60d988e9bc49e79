package controller_test

import (
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// gauge reads one sample of a gauge family from the controller-runtime
// registry, as a scrape of the metrics endpoint would see it.
func gauge(g Gomega, family string, labels map[string]string) float64 {
	families, err := crmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func histogramCount(g Gomega, family string) uint64 {
	families, err := crmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() == family && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			found++
		}
	}
	return found == len(want)
}

func TestMetricsAfterAScenario(t *testing.T) {
	f := newFixture(t, 3)
	calls := func(endpoint, outcome string) float64 {
		return testutil.ToFloat64(metrics.APICalls.WithLabelValues(endpoint, outcome))
	}
	attachOK, attach5xx, detachOK, limited, getOK := calls("attach_numbers", "success"), calls("attach_numbers", "server_error"),
		calls("detach_numbers", "success"), calls("get_persona", "rate_limited"), calls("get_persona", "success")
	waits := histogramCount(f.g, "bland_operator_api_retry_after_seconds")
	// Bindings of earlier tests may resync (one read each) meanwhile; the
	// simulator's history says how many, so the count below stays exact.
	mark := len(sim.History())
	othersRead := func() float64 {
		n := 0
		for _, c := range sim.History()[mark:] {
			if c.Account != f.account && c.Endpoint == blandsim.EndpointGet && c.Status == 200 {
				n++
			}
		}
		return float64(n)
	}

	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultStatus, Status: 502, Account: f.account}, 1)
	sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: "1", Account: f.account}, 1)
	pb := f.create(f.binding("metrics", f.numbers...))
	f.waitFor(pb, v1alpha1.ReasonSynced)
	f.update(pb, func(cur *v1alpha1.PersonaBinding) { cur.Spec.InboundNumbers = f.numbers[:2] })
	f.waitFor(pb, v1alpha1.ReasonSynced)

	// attach (502), then a read before the retry (429), the read again after
	// Retry-After, the attach, and later the detach.
	f.g.Expect(calls("attach_numbers", "server_error") - attach5xx).To(Equal(1.0))
	f.g.Expect(calls("get_persona", "rate_limited") - limited).To(Equal(1.0))
	f.g.Expect(calls("get_persona", "success") - getOK - othersRead()).To(Equal(1.0))
	f.g.Expect(calls("attach_numbers", "success") - attachOK).To(Equal(1.0))
	f.g.Expect(calls("detach_numbers", "success") - detachOK).To(Equal(1.0))
	f.g.Expect(histogramCount(f.g, "bland_operator_api_retry_after_seconds") - waits).To(Equal(uint64(1)))
	f.g.Expect(testutil.CollectAndCount(metrics.APICallDuration)).To(BeNumerically(">=", 3))

	f.g.Eventually(func(g Gomega) {
		g.Expect(gauge(g, "bland_operator_binding_attached_numbers", map[string]string{"namespace": f.ns, "name": "metrics"})).To(Equal(2.0))
		g.Expect(gauge(g, "bland_operator_bindings", map[string]string{"ready": "True", "reason": "Synced"})).To(BeNumerically(">=", 1))
	}).Should(Succeed())
	stalled := f.binding("stalled", f.numbers[2])
	stalled.Spec.CredentialsRef.Name = "missing"
	f.create(stalled)
	f.waitFor(stalled, v1alpha1.ReasonCredentialsNotFound)
	f.g.Eventually(func(g Gomega) float64 {
		return gauge(g, "bland_operator_bindings", map[string]string{"ready": "False", "reason": "CredentialsNotFound"})
	}).Should(BeNumerically(">=", 1))
}
