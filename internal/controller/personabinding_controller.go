// Package controller reconciles PersonaBindings against the Bland persona API.
package controller

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// BlandAPI is the part of the Bland client the reconciler uses.
type BlandAPI interface {
	GetPersona(ctx context.Context, apiKey, personaID string) (*bland.Persona, error)
	AttachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*bland.Persona, error)
	DetachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*bland.Persona, error)
	UpdateNumberSettings(ctx context.Context, apiKey, personaID, number string, s *bland.Settings) (*bland.InboundNumber, error)
}

// PersonaBindingReconciler keeps the numbers of a Bland persona as a
// PersonaBinding says.
type PersonaBindingReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server, so the manager
	// needs neither a Secret informer nor list/watch on Secrets.
	APIReader client.Reader
	Bland     BlandAPI
	Recorder  events.EventRecorder
	// AttachBatchSize splits attach and detach calls past this many numbers.
	AttachBatchSize int

	schedule schedule
	written  writtenStatus
}

// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile reads the binding, then either runs its deletion or brings the
// persona in line with the spec, and writes status once.
func (r *PersonaBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pb v1alpha1.PersonaBinding
	if err := r.Get(ctx, req.NamespacedName, &pb); err != nil {
		if apierrors.IsNotFound(err) {
			r.schedule.forget(req.NamespacedName)
			metrics.Bindings.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	defer recordMetrics(&pb)
	if !pb.DeletionTimestamp.IsZero() {
		if err := r.readLive(ctx, &pb); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		return r.reconcileDelete(ctx, &pb)
	}

	conflicts, err := r.findConflicts(ctx, &pb)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wait, needed := r.needsSync(&pb, conflicts); !needed {
		return resyncAfter(wait), nil
	}
	// About to call Bland: make sure the decision does not rest on a cached
	// copy that lags behind our own last status write.
	if r.written.behind(&pb) {
		if err := r.readLive(ctx, &pb); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		if wait, needed := r.needsSync(&pb, conflicts); !needed {
			return resyncAfter(wait), nil
		}
	}

	before := pb.DeepCopy() // moves forward if sync records its intent first
	result, syncErr := r.sync(ctx, &pb, conflicts, before)
	if err := r.patchStatus(ctx, before, &pb); err != nil {
		return ctrl.Result{}, err
	}
	return result, syncErr
}

// recordMetrics publishes the binding's Ready status, reason and attached count.
func recordMetrics(pb *v1alpha1.PersonaBinding) {
	ready, reason := "Unknown", ""
	if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		ready, reason = string(c.Status), c.Reason
	}
	metrics.Bindings.Set(keyOf(pb), ready, reason, len(pb.Status.BoundNumbers))
}

// readLive replaces pb with the API server's current copy. The informer cache
// can be a moment behind our own writes; planning from a stale ownership record
// would repeat an attach or miss a detach. Deletion always reads live; a sync
// reads live only when the cache does not show our last status write.
func (r *PersonaBindingReconciler) readLive(ctx context.Context, pb *v1alpha1.PersonaBinding) error {
	return r.APIReader.Get(ctx, client.ObjectKeyFromObject(pb), pb)
}

// patchStatus writes status once, and only when it changed.
func (r *PersonaBindingReconciler) patchStatus(ctx context.Context, before, after *v1alpha1.PersonaBinding) error {
	if statusEqual(before.Status, after.Status) {
		return nil
	}
	// The base differs from after only in status, so that the patch carries
	// nothing else (the finalizer may have been added in between).
	base := after.DeepCopy()
	base.Status = before.Status
	if err := r.Status().Patch(ctx, after, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	r.written.record(after)
	log.FromContext(ctx).V(1).Info("Status updated", "reason", readyReason(after))
	return nil
}

// needsSync decides whether this reconcile must talk to Bland. Only a spec
// change, a requested or due resync, a change of conflicts or an earlier
// failure do: a restart, a second replica or a status event cost nothing.
// When no sync is needed it returns how long until the next resync.
func (r *PersonaBindingReconciler) needsSync(pb *v1alpha1.PersonaBinding, conflicts conflictSet) (time.Duration, bool) {
	st := pb.Status
	switch {
	case st.ObservedGeneration != pb.Generation,
		pb.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] != st.LastHandledReconcileAt,
		!conflicts.sameAs(st.Numbers):
		return 0, true
	}
	switch readyReason(pb) {
	case v1alpha1.ReasonSynced, v1alpha1.ReasonSuspended, v1alpha1.ReasonNumberConflict,
		v1alpha1.ReasonNumberNotOwned, v1alpha1.ReasonUnauthorized, v1alpha1.ReasonPersonaNotFound:
		first := resyncInterval(pb)
		return r.schedule.dueIn(keyOf(pb), firstResync(first))
	case v1alpha1.ReasonCredentialsNotFound:
		return r.schedule.dueIn(keyOf(pb), func() time.Duration { return credentialsRetry })
	}
	return 0, true
}

// SetupWithManager registers the controller, its indexes and its watches.
func (r *PersonaBindingReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if err := addIndexes(context.Background(), mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PersonaBinding{}, builderPredicates()).
		Watches(&v1alpha1.PersonaBinding{}, r.relatedBindings()).
		WithOptions(opts.controllerOptions()).
		Named("personabinding").
		Complete(observed(r, opts.AfterReconcile))
}

// observed wraps a reconciler so that hook sees every result.
func observed(r reconcile.Reconciler, hook func(reconcile.Request, reconcile.Result, error)) reconcile.Reconciler {
	if hook == nil {
		return r
	}
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		hook(req, res, err)
		return res, err
	})
}
