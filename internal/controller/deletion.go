package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
)

// reconcileDelete honours deletionPolicy. Detach detaches every bound number
// (a persona that is gone counts as detached), then releases the finalizer;
// Orphan releases it at once. Numbers another binding lists are handed over,
// not detached.
func (r *PersonaBindingReconciler) reconcileDelete(ctx context.Context, pb *v1alpha1.PersonaBinding) (ctrl.Result, error) {
	r.schedule.forget(keyOf(pb))
	r.written.forget(pb.UID)
	if !controllerutil.ContainsFinalizer(pb, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if pb.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan {
		r.event(pb, corev1.EventTypeNormal, "Orphaned", "Delete", "Left %d numbers attached to persona %s (deletionPolicy Orphan)", len(pb.Status.BoundNumbers), pb.Spec.PersonaID)
		return ctrl.Result{}, r.releaseFinalizer(ctx, pb)
	}

	handedOver, err := r.listedElsewhere(ctx, pb, pb.Status.BoundNumbers)
	if err != nil {
		return ctrl.Result{}, err
	}
	var detach []string
	for _, n := range pb.Status.BoundNumbers {
		if !handedOver[n] {
			detach = append(detach, n)
		}
	}
	if len(detach) > 0 {
		if result, done, err := r.detachOnDelete(ctx, pb, detach); !done {
			return result, err
		}
	}
	return ctrl.Result{}, r.releaseFinalizer(ctx, pb)
}

// detachOnDelete detaches the numbers; done is false when deletion must wait,
// in which case status says why.
func (r *PersonaBindingReconciler) detachOnDelete(ctx context.Context, pb *v1alpha1.PersonaBinding, detach []string) (ctrl.Result, bool, error) {
	before := pb.DeepCopy()
	key, err := r.readAPIKey(ctx, pb)
	if err == nil {
		_, err = r.Bland.DetachNumbers(ctx, key, pb.Spec.PersonaID, detach)
		if bland.KindOf(err) == bland.KindNotFound {
			err = nil // the persona is gone, and its numbers with it
		}
	}
	if err == nil {
		r.event(pb, corev1.EventTypeNormal, "Detached", "Delete", "Detached %s from persona %s", strings.Join(detach, ", "), pb.Spec.PersonaID)
		return ctrl.Result{}, true, nil
	}

	reason, retry := v1alpha1.ReasonAPIError, time.Duration(0)
	var cred *errCredentials
	be, isBland := bland.AsError(err)
	switch {
	case errors.As(err, &cred):
		reason, retry = v1alpha1.ReasonCredentialsNotFound, credentialsRetry
	case isBland && be.Kind == bland.KindUnauthorized:
		reason, retry = v1alpha1.ReasonUnauthorized, resyncInterval(pb)
	case isBland && be.Kind == bland.KindRateLimited:
		reason, retry = v1alpha1.ReasonRateLimited, be.RetryAfter
	}
	msg := fmt.Sprintf("deleting: cannot detach %s: %s; set deletionPolicy: Orphan to delete without detaching", listNumbers(detach), err.Error())
	state := progressing
	if reason == v1alpha1.ReasonCredentialsNotFound || reason == v1alpha1.ReasonUnauthorized {
		state = stalled
	}
	pb.Status.ObservedGeneration = pb.Generation
	setConditions(pb, state, reason, msg)
	if perr := r.patchStatus(ctx, before, pb); perr != nil {
		return ctrl.Result{}, false, perr
	}
	if retry > 0 {
		return ctrl.Result{RequeueAfter: retry}, false, nil
	}
	return ctrl.Result{}, false, fmt.Errorf("detaching numbers of deleted binding: %w", err)
}

func (r *PersonaBindingReconciler) releaseFinalizer(ctx context.Context, pb *v1alpha1.PersonaBinding) error {
	before := pb.DeepCopy()
	controllerutil.RemoveFinalizer(pb, v1alpha1.Finalizer)
	if err := r.Patch(ctx, pb, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	return nil
}
