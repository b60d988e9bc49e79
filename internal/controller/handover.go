package controller

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// handOver finds, for each number giver lets go of, another binding of the
// persona that lists it and can hold it, and moves the number into that
// binding's ownership record (with the finalizer under Detach) before the
// giver forgets it: a number handed over is owned at every moment, so it is
// detached if the taker later drops it or is deleted. It returns the numbers
// handed over, by taker, and the ones nobody takes, which are to be detached.
// Both bindings share the persona, so no reconcile of the taker runs meanwhile.
func (r *PersonaBindingReconciler) handOver(ctx context.Context, giver *v1alpha1.PersonaBinding, numbers []string) (map[string]string, []string, error) {
	byTaker := map[types.NamespacedName][]string{}
	var rest []string
	for _, n := range numbers {
		taker, err := r.takerOf(ctx, giver, n)
		if err != nil {
			return nil, nil, err
		}
		if taker == nil {
			rest = append(rest, n)
			continue
		}
		byTaker[keyOf(taker)] = append(byTaker[keyOf(taker)], n)
	}
	handed := map[string]string{}
	for key, nums := range byTaker {
		taken, err := r.transfer(ctx, key, nums)
		if err != nil {
			return nil, nil, fmt.Errorf("handing %s over to PersonaBinding %s: %w", listNumbers(nums), key, err)
		}
		if len(taken) > 0 {
			// The taker looks at the persona next: what the giver's record
			// says may no longer be true (a number can have moved away).
			r.poked.Store(key, true)
			r.requeue(key)
		}
		for _, n := range nums {
			if slices.Contains(taken, n) {
				handed[n] = key.String()
				r.event(giver, corev1.EventTypeNormal, "HandedOver", "HandOver", "Left %s attached for PersonaBinding %s", n, key)
			} else {
				rest = append(rest, n)
			}
		}
	}
	slices.Sort(rest)
	return handed, rest, nil
}

// transfer adds to the taker's ownership record the numbers it still lists,
// read from the API server, and returns them.
func (r *PersonaBindingReconciler) transfer(ctx context.Context, key types.NamespacedName, numbers []string) ([]string, error) {
	var taker v1alpha1.PersonaBinding
	if err := r.APIReader.Get(ctx, key, &taker); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if !taker.DeletionTimestamp.IsZero() || !canTake(&taker) {
		return nil, nil
	}
	var taken []string
	for _, n := range numbers {
		if slices.Contains(taker.Spec.InboundNumbers, n) {
			taken = append(taken, n)
		}
	}
	if len(taken) == 0 {
		return nil, nil
	}
	w := newWriter(r.Client, &taker, &r.written)
	owned := ownershipOf(&taker.Status)
	owned.claim(taken...)
	if err := w.ensureFinalizer(ctx, owned); err != nil {
		return nil, err
	}
	st := *w.current.Status.DeepCopy()
	st.BoundNumbers = owned.list()
	if err := w.patchStatus(ctx, st); err != nil {
		return nil, err
	}
	return taken, nil
}
