package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// builderPredicates lets through the events that can need a call to Bland: a
// spec change, a deletion, and a new reconcile-requested-at or approve-detach
// value. Status
// updates, including our own, are dropped.
func builderPredicates() builder.Predicates {
	return builder.WithPredicates(predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld, e.ObjectNew
			return o.GetGeneration() != n.GetGeneration() ||
				o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero() ||
				o.GetAnnotations()[v1alpha1.ReconcileRequestedAtAnnotation] != n.GetAnnotations()[v1alpha1.ReconcileRequestedAtAnnotation] ||
				o.GetAnnotations()[v1alpha1.ApproveDetachAnnotation] != n.GetAnnotations()[v1alpha1.ApproveDetachAnnotation]
		},
	})
}

// relatedBindings wakes the bindings that share a number or a persona with a
// binding whose spec changed or that is going away, so that a conflict is
// re-decided at once and the younger binding takes over a released number.
func (r *PersonaBindingReconciler) relatedBindings() handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		seen := map[types.NamespacedName]bool{}
		for _, obj := range objs {
			pb, ok := obj.(*v1alpha1.PersonaBinding)
			if !ok {
				continue
			}
			seen[keyOf(pb)] = true // the binding itself is handled by For()
			for _, other := range r.bindingsSharing(ctx, pb) {
				if k := keyOf(&other); !seen[k] {
					seen[k] = true
					q.Add(reconcile.Request{NamespacedName: k})
				}
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() {
				enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
	}
}
