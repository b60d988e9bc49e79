package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// Per-account series: one Bland account's throttling is its own, so it is
// seen per account. The account label is a ClusterBlandAccount's name, or
// namespace/Secret for a namespace's key; never the key itself.
var (
	// AccountCalls counts HTTP calls made to Bland, by account and outcome.
	AccountCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bland_operator_account_calls_total",
		Help: "HTTP calls made to the Bland API, by account (ClusterBlandAccount, or namespace/Secret) and outcome.",
	}, []string{"account", "outcome"})

	// AccountPace is an account's pace as a share of its full rate.
	AccountPace = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bland_operator_account_pace_ratio",
		Help: "An account's pace of calls to Bland as a share of its rate (spec.rateLimit.qps, or --api-qps): 1 at full speed, lower while Bland's 429s slow it.",
	}, []string{"account"})

	// AccountWait is how long work waited for its account's turn.
	AccountWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bland_operator_account_wait_seconds",
		Help:    "How long a call waited for its account's turn (its bucket, or Bland's Retry-After), in the call or put off to the work queue, by account.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
	}, []string{"account"})
)

func init() {
	crmetrics.Registry.MustRegister(AccountCalls, AccountPace, AccountWait)
}

// ObserveAccountWait is the bland.Options.ObserveWait hook.
func ObserveAccountWait(account string, waited time.Duration) {
	AccountWait.WithLabelValues(account).Observe(waited.Seconds())
}

// ObserveAccountCall is the bland.Options.ObserveAccount hook.
func ObserveAccountCall(account string, err error, paceRatio float64) {
	AccountCalls.WithLabelValues(account, bland.Outcome(err)).Inc()
	AccountPace.WithLabelValues(account).Set(paceRatio)
}
