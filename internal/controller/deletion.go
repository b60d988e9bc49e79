package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// reconcileDelete honours deletionPolicy. Detach hands each owned number to
// another binding of the persona that lists it and can hold it, detaches the
// rest in batches (a persona that is gone counts as detached), then releases
// the finalizer; Orphan releases it at once.
func (r *PersonaBindingReconciler) reconcileDelete(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding) (ctrl.Result, error) {
	r.schedule.forget(keyOf(snap))
	if !controllerutil.ContainsFinalizer(snap, v1alpha1.Finalizer) {
		r.personas.forget(snap.UID)
		r.written.forget(snap.UID)
		return ctrl.Result{}, nil
	}
	owned := ownershipOf(&snap.Status)
	if snap.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan {
		r.event(snap, corev1.EventTypeNormal, "Orphaned", "Delete", "Left %d numbers attached to persona %s (deletionPolicy Orphan)", len(snap.Status.BoundNumbers), snap.Spec.PersonaID)
		return r.finishDelete(ctx, w, snap)
	}

	handed, detach, err := r.handOver(ctx, snap, owned.list())
	if err != nil {
		return r.deletionWaits(ctx, w, snap, owned, err)
	}
	for n := range handed {
		owned.release(n)
	}
	if len(snap.Status.BoundNumbers) > 0 {
		defer r.wakeOthers(ctx, snap) // a taker adopts; the others look again
	}
	if err := r.detachOnDelete(ctx, snap, owned, detach); err != nil && !errors.Is(err, errLetGo) {
		return r.deletionWaits(ctx, w, snap, owned, err)
	}
	return r.finishDelete(ctx, w, snap)
}

// detachOnDelete detaches the numbers in batches, releasing each batch from
// the record as it goes.
func (r *PersonaBindingReconciler) detachOnDelete(ctx context.Context, snap *v1alpha1.PersonaBinding, owned ownership, detach []string) error {
	if len(detach) == 0 {
		return nil
	}
	key, err := r.readAPIKey(ctx, snap)
	var cred *errCredentials
	if errors.As(err, &cred) {
		key, err = r.teardownKey(ctx, snap, owned, detach, err)
		if key == "" {
			return err
		}
	}
	if err != nil {
		return err
	}
	for batch := range slices.Chunk(detach, r.batchSize()) {
		_, err := r.Bland.DetachNumbers(ctx, key, snap.Spec.PersonaID, batch)
		if bland.KindOf(err) == bland.KindNotFound {
			err = nil // the persona is gone, and its numbers with it
		}
		if err != nil {
			return err
		}
		owned.release(batch...)
		r.event(snap, corev1.EventTypeNormal, "Detached", "Delete", "Detached %s from persona %s", listNumbers(batch), snap.Spec.PersonaID)
	}
	return nil
}

// errLetGo says the binding lets go of its numbers without detaching them.
var errLetGo = errors.New("letting go without detaching")

// teardownKey handles a Detach binding whose Secret is gone. When its
// namespace is being deleted, the binding must not hold the namespace in
// Terminating for ever: it detaches with the key this process last read, or,
// without one, lets go and says what it left attached. Otherwise it returns
// the credentials error, and the finalizer waits for the Secret.
func (r *PersonaBindingReconciler) teardownKey(ctx context.Context, snap *v1alpha1.PersonaBinding, owned ownership, detach []string, credErr error) (string, error) {
	key, known, tearingDown, err := r.keyForTeardown(ctx, snap)
	switch {
	case err != nil:
		return "", err
	case !tearingDown:
		return "", credErr
	case known:
		return key, nil
	}
	log.FromContext(ctx).Info("Namespace deleted with its Secret: leaving numbers attached", "persona", snap.Spec.PersonaID, "numbers", detach)
	metrics.NumbersLeftAttached.Add(float64(len(detach)))
	r.event(snap, corev1.EventTypeWarning, "NumbersLeftAttached", "Delete",
		"Namespace deleted with its Secret and no key known: left %s attached to persona %s", listNumbers(detach), snap.Spec.PersonaID)
	owned.release(detach...)
	return "", errLetGo
}

// deletionWaits records why the deletion cannot finish yet and when to retry.
func (r *PersonaBindingReconciler) deletionWaits(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding, owned ownership, cause error) (ctrl.Result, error) {
	v := classify(cause, credentialsSource(snap))
	reason, state := v.reason, v.state
	if state != stalled {
		reason = v1alpha1.ReasonDeleting
	}
	st := *snap.Status.DeepCopy()
	st.ObservedGeneration = snap.Generation
	st.BoundNumbers = owned.list()
	msg := fmt.Sprintf("deleting: cannot detach %s yet: %s; set deletionPolicy: Orphan to delete without detaching", listNumbers(owned.list()), v.message)
	setConditions(&st, snap.Generation, state, reason, msg)
	if err := w.patchStatus(ctx, st); err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case v.retryAfter > 0:
		return ctrl.Result{RequeueAfter: v.retryAfter}, nil
	case state == stalled:
		return ctrl.Result{RequeueAfter: resyncInterval(snap)}, nil
	}
	return ctrl.Result{}, fmt.Errorf("detaching the numbers of a deleted binding: %w", cause)
}

func (r *PersonaBindingReconciler) finishDelete(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding) (ctrl.Result, error) {
	if err := w.removeFinalizer(ctx); err != nil {
		return ctrl.Result{}, err
	}
	r.personas.forget(snap.UID)
	r.written.forget(snap.UID)
	r.lastKeys.Delete(keyOf(snap))
	return ctrl.Result{}, nil
}
