package controller

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// errNotConverged is returned when a sync ended without error but the persona
// still does not match the spec, so the workqueue backs off and tries again.
var errNotConverged = errors.New("the persona does not match the spec yet")

// nextStep turns the outcome into a requeue: the resync interval when in sync
// or stalled, a minute while the Secret is missing, exactly Retry-After when
// rate limited, and the workqueue's backoff for anything transient.
func (r *PersonaBindingReconciler) nextStep(snap *v1alpha1.PersonaBinding, out *outcome) (ctrl.Result, error) {
	key := keyOf(snap)
	if out.err == nil {
		if !snap.Spec.Suspend && out.notOwned.Len() == 0 && len(out.conflicts) == 0 && len(out.pendingDetach) == 0 && unmetSpec(snap, out) != "" {
			return ctrl.Result{}, errNotConverged
		}
		return resyncAfter(r.schedule.after(key, jittered(resyncInterval(snap)))), nil
	}
	v := classify(out.err, credentialsSource(snap))
	switch {
	case v.state == stalled && v.retryAfter > 0:
		return resyncAfter(r.schedule.after(key, v.retryAfter)), nil
	case v.state == stalled:
		return resyncAfter(r.schedule.after(key, jittered(resyncInterval(snap)))), nil
	case v.retryAfter > 0:
		return ctrl.Result{RequeueAfter: v.retryAfter}, nil
	}
	return ctrl.Result{}, fmt.Errorf("syncing persona %s: %w", snap.Spec.PersonaID, out.err)
}

// resyncAfter requeues a binding for its next resync at low priority, so that
// new and changed bindings go first when many resyncs are due at once.
func resyncAfter(d time.Duration) ctrl.Result {
	if d <= 0 {
		return ctrl.Result{}
	}
	low := handler.LowPriority
	return ctrl.Result{RequeueAfter: d, Priority: &low}
}

// warnOnNewFailure emits one Warning when the binding enters a failing state,
// not on every retry.
func (r *PersonaBindingReconciler) warnOnNewFailure(pb *v1alpha1.PersonaBinding, previous string) {
	reason := readyReason(pb)
	if reason == previous || reason == v1alpha1.ReasonSynced || reason == v1alpha1.ReasonSuspended || reason == v1alpha1.ReasonProgressing {
		return
	}
	r.event(pb, corev1.EventTypeWarning, reason, "Sync", "%s", readyMessage(pb))
}
