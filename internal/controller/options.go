package controller

import (
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// maxBackoff caps the wait between failed passes of a persona.
const maxBackoff = time.Minute

// Options are the knobs the manager's flags set.
type Options struct {
	MaxConcurrentReconciles int
	// SkipNameValidation allows more than one controller of this name in a
	// process (tests that restart the manager).
	SkipNameValidation bool
	// AfterReconcile, when set, sees every finished reconcile (tests).
	AfterReconcile func(req Request, res reconcile.Result, err error)
	// SkipAccounts leaves ClusterBlandAccounts' status and finalizer to
	// another manager: of two releases in a cluster, one manages accounts.
	SkipAccounts bool
	// AccountUsersFrom, when set, counts an account's bindings with an
	// uncached list of every namespace, for a manager whose cache holds only
	// the namespaces it watches: an account is cluster-wide, and a binding
	// another release reconciles still holds it.
	AccountUsersFrom client.Reader
}

// controllerOptions backs off failed reconciles per persona from one
// second, doubling to at most a minute (as Crossplane's managed reconciler
// does): a persona that failed through a long outage is looked at again
// within a minute of its end, and the client's token bucket, not the
// backoff, is what keeps many failing personas from crowding Bland.
func (o Options) controllerOptions() controller.TypedOptions[Request] {
	workers := o.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	skip, warmup := o.SkipNameValidation, true
	return controller.TypedOptions[Request]{
		// A standby starts its watches before it wins the election, so it
		// takes over without waiting for its cache to fill.
		EnableWarmup:            &warmup,
		SkipNameValidation:      &skip,
		MaxConcurrentReconciles: workers,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[Request](time.Second, maxBackoff),
	}
}
