// Package controller reconciles PersonaBindings against the Bland persona API.
package controller

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

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
	// APIReader reads straight from the API server: Secrets (so the manager
	// needs neither a Secret informer nor list/watch on Secrets), and the
	// binding itself when the cache may not hold our last write to it.
	APIReader client.Reader
	Bland     BlandAPI
	Recorder  events.EventRecorder
	// AttachBatchSize splits attach and detach calls past this many numbers.
	AttachBatchSize int
	// DefaultDetachLimit applies to bindings without spec.detachLimit (0: none).
	DefaultDetachLimit int32

	schedule schedule
	personas personas
	written  lastWrites
	// lastKeys holds, by binding, the API key last read for it, so that a
	// binding whose namespace is deleted together with its Secret can still
	// detach its numbers. Kept in memory only, never logged.
	lastKeys sync.Map
	// poked marks bindings whose account or namespace changed.
	poked sync.Map
	// wake delivers bindings whose persona another binding changed.
	wake chan event.TypedGenericEvent[*v1alpha1.PersonaBinding]
}

// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile reads the binding, then either runs its deletion or brings the
// persona in line with the spec, and writes status once.
func (r *PersonaBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cached v1alpha1.PersonaBinding
	if err := r.Get(ctx, req.NamespacedName, &cached); err != nil {
		if apierrors.IsNotFound(err) {
			r.schedule.forget(req.NamespacedName)
			r.lastKeys.Delete(req.NamespacedName)
			metrics.Bindings.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	// Everything that plans from or writes to this persona runs alone. When
	// another reconcile holds it, this one is parked and requeued on release.
	release, ok := r.personas.tryAcquire(cached.Spec.PersonaID, req.NamespacedName)
	if !ok {
		return ctrl.Result{}, nil
	}
	defer func() { r.requeue(release()...) }()

	if cached.DeletionTimestamp.IsZero() {
		if d, wait, err := r.decideFor(ctx, &cached); err != nil || !d.sync {
			recordMetrics(&cached)
			return resyncAfter(wait), err
		}
	}
	// A call to Bland is coming. The snapshot is the cached copy when it holds
	// our last write to the binding, else the API server's copy (deletion
	// always reads it). Nothing later in this reconcile changes the snapshot.
	snap := cached.DeepCopy()
	if !cached.DeletionTimestamp.IsZero() || !r.written.seenBy(&cached) {
		if err := r.APIReader.Get(ctx, req.NamespacedName, snap); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	w := newWriter(r.Client, snap, &r.written)
	defer func() { recordMetrics(w.current) }()
	if !snap.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, w, snap)
	}
	return r.reconcileSync(ctx, w, snap)
}

// reconcileSync decides again from the snapshot, syncs, and writes status.
func (r *PersonaBindingReconciler) reconcileSync(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding) (ctrl.Result, error) {
	conflicts, lostPersona, err := r.findConflicts(ctx, snap)
	if err != nil {
		return ctrl.Result{}, err
	}
	d, wait := r.decision(snap, conflicts)
	if !d.sync {
		return resyncAfter(wait), nil
	}
	r.poked.Delete(keyOf(snap))
	out := r.sync(ctx, w, snap, conflicts, lostPersona, d.readFirst)
	if out.changed {
		defer r.wakeOthers(ctx, snap)
	}
	st := computeStatus(snap, out)
	if err := w.ensureFinalizer(ctx, out.owned); err != nil {
		return ctrl.Result{}, err
	}
	previous := readyReason(snap)
	if err := w.patchStatus(ctx, st); err != nil {
		return ctrl.Result{}, err
	}
	r.warnOnNewFailure(w.current, previous)
	return r.nextStep(snap, out)
}

// decideFor decides from the cached binding whether this reconcile needs
// Bland at all; most do not, and they cost no call and no write.
func (r *PersonaBindingReconciler) decideFor(ctx context.Context, pb *v1alpha1.PersonaBinding) (decision, time.Duration, error) {
	conflicts, _, err := r.findConflicts(ctx, pb)
	if err != nil {
		return decision{}, 0, err
	}
	d, wait := r.decision(pb, conflicts)
	return d, wait, nil
}

// decision gathers the facts about pb and decides.
func (r *PersonaBindingReconciler) decision(pb *v1alpha1.PersonaBinding, conflicts conflictSet) (decision, time.Duration) {
	reason := readyReason(pb)
	first := firstResync(resyncInterval(pb))
	if reason == v1alpha1.ReasonCredentialsNotFound {
		first = func() time.Duration { return credentialsRetry }
	}
	wait, due := r.schedule.dueIn(keyOf(pb), first)
	d := decide(facts{
		specChanged:      pb.Status.ObservedGeneration != pb.Generation,
		requested:        pb.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] != pb.Status.LastHandledReconcileAt,
		conflictsChanged: !conflicts.sameAs(pb.Status.Numbers),
		personaChanged:   r.personas.changedSince(pb.Spec.PersonaID, pb.UID) && mayGainFromALook(pb, conflicts),
		approved:         len(pb.Status.PendingDetach) > 0 && approved(pb),
		poked:            r.wasPoked(keyOf(pb)),
		resyncDue:        due,
		lastReason:       reason,
		suspend:          pb.Spec.Suspend,
		exclusive:        pb.Spec.Exclusive,
	})
	return d, wait
}

// mayGainFromALook reports whether a change another binding made to the
// persona can matter to pb: it has synced before and either sweeps the
// persona or lists a number it does not hold yet (one may have been handed
// to it). A binding that never synced attaches all it lists anyway.
func mayGainFromALook(pb *v1alpha1.PersonaBinding, conflicts conflictSet) bool {
	if readyReason(pb) == "" {
		return false
	}
	if pb.Spec.Exclusive {
		return true
	}
	owned := ownershipOf(&pb.Status)
	for _, n := range pb.Spec.InboundNumbers {
		if !owned.owns(n) && conflicts[n] == "" {
			return true
		}
	}
	return false
}

// wakeOthers asks the other bindings of the persona that may gain from a
// fresh look to reconcile: their view of it is out of date, and one may be
// about to take over a number. The rest read it again when they next sync.
func (r *PersonaBindingReconciler) wakeOthers(ctx context.Context, pb *v1alpha1.PersonaBinding) {
	r.personas.changed(pb.Spec.PersonaID, pb.UID)
	if !pb.DeletionTimestamp.IsZero() {
		r.personas.forget(pb.UID)
	}
	var keys []types.NamespacedName
	for _, other := range r.bindingsOfPersona(ctx, pb.Spec.PersonaID) {
		if other.UID != pb.UID && mayGainFromALook(&other, conflictSet{}) {
			keys = append(keys, keyOf(&other))
		}
	}
	r.requeue(keys...)
}

// requeue puts bindings back in the workqueue through the wake channel,
// never blocking a worker on a full channel.
func (r *PersonaBindingReconciler) requeue(keys ...types.NamespacedName) {
	for _, k := range keys {
		obj := &v1alpha1.PersonaBinding{}
		obj.Namespace, obj.Name = k.Namespace, k.Name
		ev := event.TypedGenericEvent[*v1alpha1.PersonaBinding]{Object: obj}
		select {
		case r.wake <- ev:
		default:
			go func() { r.wake <- ev }()
		}
	}
}

// recordMetrics publishes the binding's Ready status, reason and attached count.
func recordMetrics(pb *v1alpha1.PersonaBinding) {
	ready, reason := "Unknown", ""
	if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		ready, reason = string(c.Status), c.Reason
	}
	var deleting time.Time
	if pb.DeletionTimestamp != nil {
		deleting = pb.DeletionTimestamp.Time
	}
	metrics.Bindings.Set(keyOf(pb), ready, reason, len(pb.Status.BoundNumbers), deleting)
}

// SetupWithManager registers the controller, its indexes and its watches.
func (r *PersonaBindingReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if err := addIndexes(context.Background(), mgr); err != nil {
		return err
	}
	r.wake = make(chan event.TypedGenericEvent[*v1alpha1.PersonaBinding], 1024)
	err := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PersonaBinding{}, builderPredicates()).
		Watches(&v1alpha1.PersonaBinding{}, r.relatedBindings()).
		WatchesRawSource(source.Channel(r.wake, &handler.TypedEnqueueRequestForObject[*v1alpha1.PersonaBinding]{})).
		Watches(&v1alpha1.ClusterBlandAccount{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfAccount)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.accountBindingsInNamespace), namespaceLabelsChanged()).
		WithOptions(opts.controllerOptions()).
		Named("personabinding").
		Complete(observed(r, opts.AfterReconcile))
	if err != nil {
		return err
	}
	accounts := &accountReconciler{Client: mgr.GetClient(), APIReader: r.APIReader}
	return accounts.setup(mgr, opts)
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
