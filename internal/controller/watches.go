package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/metrics"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// Cache indexes on PersonaBindings, so that finding the bindings of a
// persona, a number or an account costs no API call and no scan.
// One index serves the numbers a binding lists and those it holds: they
// are mostly the same, and an index entry per number and field is most of
// what the cache spends on a binding beyond the object itself.
const (
	indexPersona = "spec.personaID"
	indexNumber  = "numbers" // spec.inboundNumbers and status.boundNumbers
	indexAccount = "spec.accountRef.name"
)

func addIndexes(ctx context.Context, mgr manager.Manager) error {
	fields := map[string]client.IndexerFunc{
		indexPersona: func(o client.Object) []string { return []string{o.(*v1alpha1.PersonaBinding).Spec.PersonaID} },
		indexNumber:  func(o client.Object) []string { return listedOrHeld(o.(*v1alpha1.PersonaBinding)) },
		indexAccount: func(o client.Object) []string {
			if ref := o.(*v1alpha1.PersonaBinding).Spec.AccountRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		},
	}
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.PersonaBinding{}, field, fields[field]); err != nil {
			return fmt.Errorf("indexing bindings by %s: %w", field, err)
		}
	}
	return nil
}

// listedOrHeld returns the numbers a binding lists or holds, each once.
func listedOrHeld(pb *v1alpha1.PersonaBinding) []string {
	held := persona.Held(pb)
	if slices.Equal(pb.Spec.InboundNumbers, held) {
		return pb.Spec.InboundNumbers
	}
	return slices.Compact(slices.Sorted(slices.Values(slices.Concat(pb.Spec.InboundNumbers, held))))
}

type queue = workqueue.TypedRateLimitingInterface[Request]

// bindingEvents maps a binding's events to the personas they concern: its
// own (old and new) when its spec, deletion or the annotations a person sets
// change; and the other personas whose bindings list or hold one of its
// numbers, when its spec or its record changes, since the owner function
// there reads its age and its claims. Status changes alone do not wake its
// own persona: that persona wrote them.
func (r *PersonaReconciler) bindingEvents() handler.TypedEventHandler[client.Object, Request] {
	return handler.TypedFuncs[client.Object, Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q queue) {
			r.enqueue(ctx, q, e.Object.(*v1alpha1.PersonaBinding), true)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
			o, n := e.ObjectOld.(*v1alpha1.PersonaBinding), e.ObjectNew.(*v1alpha1.PersonaBinding)
			own := specOrIntentChanged(o, n)
			if own || !slices.Equal(persona.Held(o), persona.Held(n)) {
				r.enqueue(ctx, q, o, own)
				r.enqueue(ctx, q, n, own)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q queue) {
			pb := e.Object.(*v1alpha1.PersonaBinding)
			r.memory.forgetBinding(pb.UID)
			metrics.Bindings.Forget(client.ObjectKeyFromObject(pb))
			r.enqueue(ctx, q, pb, true)
		},
	}
}

// specOrIntentChanged reports a change a person made: the spec, the
// deletion, or the reconcile-requested-at and approve-detach annotations.
func specOrIntentChanged(o, n *v1alpha1.PersonaBinding) bool {
	return o.Generation != n.Generation ||
		o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() ||
		o.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] != n.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] ||
		o.Annotations[v1alpha1.ApproveDetachAnnotation] != n.Annotations[v1alpha1.ApproveDetachAnnotation]
}

// enqueue adds the binding's persona (when own) and the personas of the
// other bindings that list or hold one of its numbers.
func (r *PersonaReconciler) enqueue(ctx context.Context, q queue, pb *v1alpha1.PersonaBinding, own bool) {
	if own {
		q.Add(Request{PersonaID: pb.Spec.PersonaID})
	}
	seen := map[string]bool{pb.Spec.PersonaID: true}
	for _, n := range listedOrHeld(pb) {
		var list v1alpha1.PersonaBindingList
		// Only the persona ID is read: the cached objects need no copy.
		if err := r.List(ctx, &list, client.MatchingFields{indexNumber: n}, client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		for _, other := range list.Items {
			if id := other.Spec.PersonaID; !seen[id] {
				seen[id] = true
				q.Add(Request{PersonaID: id})
			}
		}
	}
}

// personasOfAccount maps an account whose spec changed (its selector or its
// Secret reference), or that came or went, to the personas of its bindings.
func (r *PersonaReconciler) personasOfAccount(ctx context.Context, obj client.Object) []Request {
	var list v1alpha1.PersonaBindingList
	if err := r.List(ctx, &list, client.MatchingFields{indexAccount: obj.GetName()}); err != nil {
		return nil
	}
	return r.keysMayHaveChanged(personasOf(list.Items, func(*v1alpha1.PersonaBinding) bool { return true }))
}

// personasInNamespace maps a relabelled namespace to the personas of its
// bindings that use an account: the account's selector may admit or refuse
// them now.
func (r *PersonaReconciler) personasInNamespace(ctx context.Context, obj client.Object) []Request {
	var list v1alpha1.PersonaBindingList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetName())); err != nil {
		return nil
	}
	return r.keysMayHaveChanged(personasOf(list.Items, func(pb *v1alpha1.PersonaBinding) bool { return pb.Spec.AccountRef != nil }))
}

// keysMayHaveChanged marks each persona for a key read in its next pass:
// an account or a namespace label changed, and a pass with nothing else to
// do must still see that a binding is no longer admitted.
func (r *PersonaReconciler) keysMayHaveChanged(reqs []Request) []Request {
	for _, req := range reqs {
		r.memory.keysMayHaveChanged(req.PersonaID)
	}
	return reqs
}

func personasOf(items []v1alpha1.PersonaBinding, keep func(*v1alpha1.PersonaBinding) bool) []Request {
	seen := map[string]bool{}
	var out []Request
	for i := range items {
		if id := items[i].Spec.PersonaID; keep(&items[i]) && !seen[id] {
			seen[id] = true
			out = append(out, Request{PersonaID: id})
		}
	}
	return out
}

// SetupWithManager registers the persona controller, its indexes and its
// watches, and the account controller.
func (r *PersonaReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if err := addIndexes(context.Background(), mgr); err != nil {
		return err
	}
	err := builder.TypedControllerManagedBy[Request](mgr).
		Named("persona").
		Watches(&v1alpha1.PersonaBinding{}, r.bindingEvents()).
		Watches(&v1alpha1.ClusterBlandAccount{}, handler.TypedEnqueueRequestsFromMapFunc(r.personasOfAccount),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.TypedEnqueueRequestsFromMapFunc(r.personasInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{}, predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})).
		WithOptions(opts.controllerOptions()).
		WithLogConstructor(func(req *Request) logr.Logger {
			l := mgr.GetLogger().WithValues("controller", "persona")
			if req != nil {
				l = l.WithValues("persona", req.PersonaID)
			}
			return l
		}).
		Complete(observed(r, opts.AfterReconcile))
	if err != nil {
		return err
	}
	if opts.SkipAccounts {
		return nil
	}
	accounts := &accountReconciler{Client: mgr.GetClient(), APIReader: r.APIReader, AllNamespaces: opts.AccountUsersFrom}
	if paces, ok := r.Bland.(AccountPaces); ok {
		accounts.Paces = paces
	}
	return accounts.setup(mgr, opts)
}

// observed wraps a reconciler so that hook sees every result.
func observed(r reconcile.TypedReconciler[Request], hook func(Request, reconcile.Result, error)) reconcile.TypedReconciler[Request] {
	if hook == nil {
		return r
	}
	return reconcile.TypedFunc[Request](func(ctx context.Context, req Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		hook(req, res, err)
		return res, err
	})
}
