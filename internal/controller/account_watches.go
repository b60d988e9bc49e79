package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// bindingsOfAccount wakes the bindings that name an account whose selector
// or Secret reference changed (or that appeared or went away).
func (r *PersonaBindingReconciler) bindingsOfAccount(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.PersonaBindingList
	if err := r.List(ctx, &list, client.MatchingFields{indexAccount: obj.GetName()}); err != nil {
		return nil
	}
	return r.poke(list.Items)
}

// accountBindingsInNamespace wakes the bindings of a relabelled namespace
// that use an account: the account's selector may admit or refuse them now.
func (r *PersonaBindingReconciler) accountBindingsInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.PersonaBindingList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetName())); err != nil {
		return nil
	}
	var users []v1alpha1.PersonaBinding
	for _, pb := range list.Items {
		if pb.Spec.AccountRef != nil {
			users = append(users, pb)
		}
	}
	return r.poke(users)
}

// poke marks bindings so that their next reconcile looks at their
// credentials again, and returns their requests.
func (r *PersonaBindingReconciler) poke(bindings []v1alpha1.PersonaBinding) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(bindings))
	for i := range bindings {
		key := keyOf(&bindings[i])
		r.poked.Store(key, true)
		out = append(out, reconcile.Request{NamespacedName: key})
	}
	return out
}

func (r *PersonaBindingReconciler) wasPoked(key types.NamespacedName) bool {
	_, ok := r.poked.Load(key)
	return ok
}

// namespaceLabelsChanged lets through namespace events that can change what
// an account's selector says: a label change. Creation and deletion of a
// namespace come with its bindings' own events.
func namespaceLabelsChanged() builder.Predicates {
	return builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !mapsEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
		},
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
