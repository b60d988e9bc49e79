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

// Cache indexes on both kinds, so that finding the bindings of a target (a
// persona, or an agent in one environment), a number or an account costs
// no API call and no scan.
// One index serves the numbers a binding lists and those it holds: they
// are mostly the same, and an index entry per number and field is most of
// what the cache spends on a binding beyond the object itself.
const (
	indexTarget  = "target"
	indexNumber  = "numbers" // spec.inboundNumbers and status.boundNumbers
	indexAccount = "spec.accountRef.name"
)

func addIndexes(ctx context.Context, mgr manager.Manager) error {
	for _, kind := range []client.Object{&v1alpha1.PersonaBinding{}, &v1alpha1.AgentBinding{}} {
		fields := map[string]client.IndexerFunc{
			indexTarget: func(o client.Object) []string { return []string{asView(o).Spec.PersonaID} },
			indexNumber: func(o client.Object) []string { return listedOrHeld(asView(o)) },
			indexAccount: func(o client.Object) []string {
				if ref := asView(o).Spec.AccountRef; ref != nil {
					return []string{ref.Name}
				}
				return nil
			},
		}
		for _, field := range slices.Sorted(maps.Keys(fields)) {
			if err := mgr.GetFieldIndexer().IndexField(ctx, kind, field, fields[field]); err != nil {
				return fmt.Errorf("indexing bindings by %s: %w", field, err)
			}
		}
	}
	return nil
}

// asView is a binding of either kind as the planner sees it.
func asView(o client.Object) persona.PB {
	if ab, ok := o.(*v1alpha1.AgentBinding); ok {
		return persona.AgentView(ab)
	}
	return o.(*v1alpha1.PersonaBinding)
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
			r.enqueue(ctx, q, asView(e.Object), true)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
			o, n := asView(e.ObjectOld), asView(e.ObjectNew)
			own := specOrIntentChanged(o, n)
			if own || !slices.Equal(persona.Held(o), persona.Held(n)) {
				r.enqueue(ctx, q, o, own)
				r.enqueue(ctx, q, n, own)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q queue) {
			pb := asView(e.Object)
			r.memory.forgetBinding(pb.UID)
			metrics.Bindings.Forget(metricsKey(pb))
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
		// Only the target is read: the cached objects need no copy.
		list, err := r.listNumber(ctx, n, client.UnsafeDisableDeepCopy)
		if err != nil {
			continue
		}
		for _, other := range list {
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
	list, err := r.listBoth(ctx, client.MatchingFields{indexAccount: obj.GetName()})
	if err != nil {
		return nil
	}
	return r.keysMayHaveChanged(personasOf(list, func(persona.PB) bool { return true }))
}

// personasInNamespace maps a relabelled namespace to the personas of its
// bindings that use an account: the account's selector may admit or refuse
// them now.
func (r *PersonaReconciler) personasInNamespace(ctx context.Context, obj client.Object) []Request {
	list, err := r.listBoth(ctx, client.InNamespace(obj.GetName()))
	if err != nil {
		return nil
	}
	return r.keysMayHaveChanged(personasOf(list, func(pb persona.PB) bool { return pb.Spec.AccountRef != nil }))
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

func personasOf(items []persona.PB, keep func(persona.PB) bool) []Request {
	seen := map[string]bool{}
	var out []Request
	for _, pb := range items {
		if id := pb.Spec.PersonaID; keep(pb) && !seen[id] {
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
		Watches(&v1alpha1.AgentBinding{}, r.bindingEvents()).
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
