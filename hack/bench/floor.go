package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// apiServerFloor times what no operator can avoid for n new bindings on this
// machine: n creates, then one finalizer patch and one status patch each, at
// the manager's concurrency. It runs with the manager stopped, and removes
// its bindings, so P3, P3m and P8 can be stated as multiples of it: absolute
// seconds move with the machine, the ratio much less. It runs once for each
// (its namespace stays between runs). Its end is seen as a row's is: by the
// same watch on its namespace, when the last binding shows Ready, so that
// the harness's own watch weighs on both sides of the ratio.
func (h *harness) apiServerFloor(n, workers int) time.Duration {
	ctx := context.Background()
	ns := "bench-floor"
	check(client.IgnoreAlreadyExists(h.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})))
	bindings := make([]*v1alpha1.PersonaBinding, n)
	for i := range n {
		bindings[i] = &v1alpha1.PersonaBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%05d", i), Namespace: ns},
			Spec: v1alpha1.PersonaBindingSpec{
				PersonaID:      "floor-persona",
				InboundNumbers: []string{fmt.Sprintf("+1990%07d", 2*i), fmt.Sprintf("+1990%07d", 2*i+1)},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
			},
		}
	}
	seen := make(chan time.Time, 1)
	go func() { seen <- h.awaitReady(&group{name: "floor", ns: ns, bindings: bindings}, readyLimit(n)) }()
	start := time.Now()
	parallel(n, 32, func(i int) { check(h.k8s.Create(ctx, bindings[i])) })
	parallel(n, workers, func(i int) {
		pb := bindings[i]
		base := pb.DeepCopy()
		controllerutil.AddFinalizer(pb, v1alpha1.Finalizer)
		check(h.k8s.Patch(ctx, pb, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
		base = pb.DeepCopy()
		pb.Status.ObservedGeneration = pb.Generation
		pb.Status.BoundNumbers = pb.Spec.InboundNumbers
		meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			ObservedGeneration: pb.Generation, Reason: v1alpha1.ReasonSynced, Message: "floor"})
		check(h.k8s.Status().Patch(ctx, pb, client.MergeFrom(base)))
	})
	took := (<-seen).Sub(start)
	parallel(n, 32, func(i int) {
		pb := bindings[i]
		base := pb.DeepCopy()
		controllerutil.RemoveFinalizer(pb, v1alpha1.Finalizer)
		check(h.k8s.Patch(ctx, pb, client.MergeFrom(base)))
		check(client.IgnoreNotFound(h.k8s.Delete(ctx, pb)))
	})
	return took
}
