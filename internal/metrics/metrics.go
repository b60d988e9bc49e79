// Package metrics defines the operator's Prometheus metrics, registered with
// controller-runtime's registry so they are served by the manager's secure
// metrics endpoint next to the controller-runtime ones.
package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// Outcomes of a call to Bland.
const (
	OutcomeSuccess     = "success"
	OutcomeClientError = "client_error"
	OutcomeServerError = "server_error"
	OutcomeRateLimited = "rate_limited"
	OutcomeNetwork     = "network"
)

var (
	// APICalls counts HTTP calls made to Bland.
	APICalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bland_operator_api_calls_total",
		Help: "HTTP calls made to the Bland API, by endpoint and outcome.",
	}, []string{"endpoint", "outcome"})

	// APICallDuration is the latency of calls to Bland.
	APICallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bland_operator_api_call_duration_seconds",
		Help:    "Latency of HTTP calls to the Bland API, by endpoint.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint"})

	// RetryAfter records how long Bland asked to wait after a 429.
	RetryAfter = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bland_operator_api_retry_after_seconds",
		Help:    "Waits Bland asked for with Retry-After on HTTP 429.",
		Buckets: []float64{1, 2, 5, 10, 30, 60, 300, 900, 3600},
	})

	// DriftRepairs counts numbers found changed behind the operator's back at a
	// resync or requested reconcile, and put back.
	DriftRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bland_operator_drift_repairs_total",
		Help: "Numbers found changed outside the operator and repaired, by kind (attach, detach, settings).",
	}, []string{"kind"})

	// NumbersLeftAttached counts numbers a binding left attached when it had to
	// let go without detaching: a namespace teardown with no key that works,
	// or an account that no longer admits the namespace.
	NumbersLeftAttached = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bland_operator_numbers_left_attached_total",
		Help: "Numbers left attached because a deleted binding had no usable key (namespace teardown) or its account no longer admitted its namespace.",
	})

	// SecretReads counts the Secrets read for API keys. They are read
	// uncached, so a rate here is load on the API server: a settled
	// operator reads each key about once per resync.
	SecretReads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bland_operator_secret_reads_total",
		Help: "Secrets read (uncached) for Bland API keys.",
	})

	// Bindings is the collector of per-binding state.
	Bindings = &bindingCollector{bindings: map[types.NamespacedName]bindingState{}}
)

func init() {
	crmetrics.Registry.MustRegister(APICalls, APICallDuration, RetryAfter, DriftRepairs, NumbersLeftAttached, SecretReads, Bindings)
}

// ObserveCall records one HTTP call to Bland.
func ObserveCall(endpoint, outcome string, took, retryAfter time.Duration) {
	APICalls.WithLabelValues(endpoint, outcome).Inc()
	APICallDuration.WithLabelValues(endpoint).Observe(took.Seconds())
	if outcome == OutcomeRateLimited {
		RetryAfter.Observe(retryAfter.Seconds())
	}
}

type bindingState struct {
	ready, reason string
	attached      int
	// deleting is when deletion was requested (zero: not being deleted).
	deleting time.Time
}

// bindingCollector reports bindings by Ready status and reason, and the numbers
// each binding has attached. Labels are per binding, never per number, to keep
// cardinality bounded by the number of bindings.
type bindingCollector struct {
	mu       sync.Mutex
	bindings map[types.NamespacedName]bindingState
}

var (
	bindingsDesc = prometheus.NewDesc("bland_operator_bindings",
		"PersonaBindings by the status and reason of their Ready condition.", []string{"ready", "reason"}, nil)
	attachedDesc = prometheus.NewDesc("bland_operator_binding_attached_numbers",
		"Numbers a PersonaBinding has attached to its persona.", []string{"namespace", "name"}, nil)
	deletingDesc = prometheus.NewDesc("bland_operator_binding_deletion_timestamp_seconds",
		"When deletion of a PersonaBinding that still waits for its finalizer was requested (Unix seconds).", []string{"namespace", "name"}, nil)
)

// Set records the state of a binding; deleting is when its deletion was
// requested, zero when it is not being deleted.
func (c *bindingCollector) Set(key types.NamespacedName, ready, reason string, attached int, deleting time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bindings[key] = bindingState{ready: ready, reason: reason, attached: attached, deleting: deleting}
}

// Forget drops a binding that is gone.
func (c *bindingCollector) Forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.bindings, key)
}

// Describe implements prometheus.Collector.
func (c *bindingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bindingsDesc
	ch <- attachedDesc
	ch <- deletingDesc
}

// Collect implements prometheus.Collector.
func (c *bindingCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := map[[2]string]int{}
	for key, s := range c.bindings {
		counts[[2]string{s.ready, s.reason}]++
		ch <- prometheus.MustNewConstMetric(attachedDesc, prometheus.GaugeValue, float64(s.attached), key.Namespace, key.Name)
		if !s.deleting.IsZero() {
			ch <- prometheus.MustNewConstMetric(deletingDesc, prometheus.GaugeValue, float64(s.deleting.Unix()), key.Namespace, key.Name)
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(bindingsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

// ObserveBlandCall is the bland.Options.Observe hook: it records a call under
// its endpoint ("get persona" becomes get_persona) and outcome.
func ObserveBlandCall(op string, err error, took time.Duration) {
	var wait time.Duration
	if be, ok := bland.AsError(err); ok {
		wait = be.RetryAfter
	}
	ObserveCall(strings.ReplaceAll(op, " ", "_"), bland.Outcome(err), took, wait)
}
