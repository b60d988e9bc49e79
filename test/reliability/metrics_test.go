package reliability

import (
	"net"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	must(t, l.Close())
	return addr
}

// reconcileCount reads controller_runtime_reconcile_total for the
// persona controller from the manager's metrics endpoint.
func reconcileCount(t *testing.T, addr string) float64 {
	t.Helper()
	total := 0.0
	for _, m := range scrape(t, addr)["controller_runtime_reconcile_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "controller" && l.GetValue() == "persona" {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// metricValue is the sum of a counter's series on the manager's endpoint.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	total := 0.0
	for _, m := range scrape(t, addr)[name].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	return total
}

// scrape reads the manager's metrics.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	must(t, err)
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	must(t, err)
	return families
}
