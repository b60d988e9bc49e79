package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// writer makes one reconcile's writes to the binding. It patches copies and
// keeps the server's latest answer in current, which serves only as the base
// of the next patch: nothing in it changes what the reconcile was asked to do.
type writer struct {
	c       client.Client
	current *v1alpha1.PersonaBinding
	written *lastWrites
}

func newWriter(c client.Client, snap *v1alpha1.PersonaBinding, written *lastWrites) *writer {
	return &writer{c: c, current: snap.DeepCopy(), written: written}
}

// accept makes next, as the API server answered it, the base of the next patch.
func (w *writer) accept(next *v1alpha1.PersonaBinding) {
	w.current = next
	w.written.record(next)
}

// ensureFinalizer adds the finalizer when the ownership record needs it. The
// patch carries the resourceVersion, so it cannot undo a concurrent change to
// the finalizer list; a conflict retries the whole reconcile.
func (w *writer) ensureFinalizer(ctx context.Context, owned ownership) error {
	if !owned.needsFinalizer(w.current) || controllerutil.ContainsFinalizer(w.current, v1alpha1.Finalizer) {
		return nil
	}
	next := w.current.DeepCopy()
	controllerutil.AddFinalizer(next, v1alpha1.Finalizer)
	if err := w.c.Patch(ctx, next, client.MergeFromWithOptions(w.current, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	w.accept(next)
	return nil
}

// removeFinalizer lets the API server delete the binding.
func (w *writer) removeFinalizer(ctx context.Context) error {
	if !controllerutil.ContainsFinalizer(w.current, v1alpha1.Finalizer) {
		return nil
	}
	next := w.current.DeepCopy()
	controllerutil.RemoveFinalizer(next, v1alpha1.Finalizer)
	if err := w.c.Patch(ctx, next, client.MergeFromWithOptions(w.current, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing finalizer: %w", err))
	}
	w.accept(next)
	return nil
}

// patchStatus writes st, only when it differs from what the server has.
func (w *writer) patchStatus(ctx context.Context, st v1alpha1.PersonaBindingStatus) error {
	if equality.Semantic.DeepEqual(w.current.Status, st) {
		return nil
	}
	next := w.current.DeepCopy()
	next.Status = st
	if err := w.c.Status().Patch(ctx, next, client.MergeFrom(w.current)); err != nil {
		return client.IgnoreNotFound(err)
	}
	w.accept(next)
	return nil
}
