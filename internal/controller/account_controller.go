package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=clusterblandaccounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=clusterblandaccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=clusterblandaccounts/finalizers,verbs=update

// accountReconciler reports whether a ClusterBlandAccount's Secret is there
// and how many bindings use it, and holds its deletion while any do: their
// numbers could not be detached without its key.
type accountReconciler struct {
	client.Client
	APIReader client.Reader
	// AllNamespaces, when set, lists the bindings of every namespace
	// (uncached) for a manager that watches only some.
	AllNamespaces client.Reader
	// Paces, when set, tells the account's current pace for its status.
	Paces AccountPaces
}

// AccountPaces tells an account's current pace (the Bland client does).
type AccountPaces interface {
	AccountPace(name string) (pace float64, throttled, ok bool)
}

// accountRecheck is how often an account looks at its Secret again: Secrets
// are not watched (the manager may only get them).
const accountRecheck = time.Minute

func (r *accountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var acct v1alpha1.ClusterBlandAccount
	if err := r.Get(ctx, req.NamespacedName, &acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	names, err := r.users(ctx, acct.Name)
	if err != nil {
		return ctrl.Result{}, err
	}

	if !acct.DeletionTimestamp.IsZero() {
		if len(names) == 0 {
			return ctrl.Result{}, r.patchFinalizer(ctx, &acct, controllerutil.RemoveFinalizer)
		}
		st := acct.Status.DeepCopy()
		st.Bindings = int32(len(names)) //nolint:gosec // at most the number of bindings in the cluster
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonAccountInUse, ObservedGeneration: acct.Generation,
			Message: fmt.Sprintf("deletion waits for %d PersonaBindings that use this account: %s", len(names), persona.List(names))})
		return ctrl.Result{}, r.patchStatus(ctx, &acct, st)
	}
	if err := r.patchFinalizer(ctx, &acct, controllerutil.AddFinalizer); err != nil {
		return ctrl.Result{}, err
	}

	st := acct.Status.DeepCopy()
	st.ObservedGeneration = acct.Generation
	st.Bindings = int32(len(names)) //nolint:gosec // at most the number of bindings in the cluster
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSecretReady,
		Message: "the Secret and its key are present", ObservedGeneration: acct.Generation}
	if msg := r.secretProblem(ctx, &acct); msg != "" {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonCredentialsNotFound, msg
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if r.Paces != nil {
		if pace, throttled, ok := r.Paces.AccountPace(acct.Name); ok {
			st.Pace, st.Throttled = describePace(pace), throttled
		}
	}
	return ctrl.Result{RequeueAfter: accountRecheck}, r.patchStatus(ctx, &acct, st)
}

// users names the bindings that use the account, sorted: from the cache's
// index, or, for a manager that watches only some namespaces, from a paged
// uncached list of every namespace (bindings elsewhere are then seen within
// accountRecheck, as no watch reaches them).
func (r *accountReconciler) users(ctx context.Context, account string) ([]string, error) {
	var names []string
	if r.AllNamespaces == nil {
		var pbs v1alpha1.PersonaBindingList
		if err := r.List(ctx, &pbs, client.MatchingFields{indexAccount: account}); err != nil {
			return nil, err
		}
		var abs v1alpha1.AgentBindingList
		if err := r.List(ctx, &abs, client.MatchingFields{indexAccount: account}); err != nil {
			return nil, err
		}
		for _, pb := range append(pointers(pbs.Items), agentViews(abs.Items)...) {
			names = append(names, persona.KeyOf(pb))
		}
	} else {
		for _, list := range []client.ObjectList{&v1alpha1.PersonaBindingList{}, &v1alpha1.AgentBindingList{}} {
			found, err := r.usersEverywhere(ctx, list, account)
			if err != nil {
				return nil, err
			}
			names = append(names, found...)
		}
	}
	slices.Sort(names)
	return names, nil
}

// usersEverywhere pages through every binding of list's kind, uncached, for
// those that use the account.
func (r *accountReconciler) usersEverywhere(ctx context.Context, list client.ObjectList, account string) ([]string, error) {
	var names []string
	opts := &client.ListOptions{Limit: 500}
	for {
		if err := r.AllNamespaces.List(ctx, list, opts); err != nil {
			return nil, fmt.Errorf("listing the bindings of every namespace: %w", err)
		}
		var page []persona.PB
		switch l := list.(type) {
		case *v1alpha1.PersonaBindingList:
			page = pointers(l.Items)
		case *v1alpha1.AgentBindingList:
			page = agentViews(l.Items)
		}
		for _, pb := range page {
			if ref := pb.Spec.AccountRef; ref != nil && ref.Name == account {
				names = append(names, persona.KeyOf(pb))
			}
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return names, nil
		}
	}
}

// secretProblem says what is wrong with the account's Secret, or "". It
// looks at whether the key is there, never at its value.
func (r *accountReconciler) secretProblem(ctx context.Context, acct *v1alpha1.ClusterBlandAccount) string {
	ref := acct.Spec.SecretRef
	_, err := readSecretKey(ctx, r.APIReader, ref.Namespace, ref.Name, ref.Key, "secretRef.key")
	var cred *errCredentials
	switch {
	case errors.As(err, &cred):
		return cred.msg
	case err != nil:
		return fmt.Sprintf("cannot read Secret %q in namespace %q", ref.Name, ref.Namespace)
	}
	return ""
}

func (r *accountReconciler) patchFinalizer(ctx context.Context, acct *v1alpha1.ClusterBlandAccount, change func(client.Object, string) bool) error {
	next := acct.DeepCopy()
	if !change(next, v1alpha1.AccountFinalizer) {
		return nil
	}
	if err := r.Patch(ctx, next, client.MergeFromWithOptions(acct, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	*acct = *next
	return nil
}

func (r *accountReconciler) patchStatus(ctx context.Context, acct *v1alpha1.ClusterBlandAccount, st *v1alpha1.ClusterBlandAccountStatus) error {
	if equality.Semantic.DeepEqual(acct.Status, *st) {
		return nil
	}
	next := acct.DeepCopy()
	next.Status = *st
	return client.IgnoreNotFound(r.Status().Patch(ctx, next, client.MergeFrom(acct)))
}

// setup registers the account controller: it watches accounts, and bindings
// (to count them and to release a deleted account once none is left).
func (r *accountReconciler) setup(mgr ctrl.Manager, opts Options) error {
	skip := opts.SkipNameValidation
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ClusterBlandAccount{}).
		Watches(&v1alpha1.PersonaBinding{}, usersOfAccounts()).
		Watches(&v1alpha1.AgentBinding{}, usersOfAccounts()).
		WithOptions(controller.Options{SkipNameValidation: &skip}).
		Named("clusterblandaccount").
		Complete(r)
}

// usersOfAccounts maps a binding's events to the account it names.
func usersOfAccounts() handler.Funcs {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueAccountOf(q, e.Object)
		},
		// Only a binding that starts or stops naming an account changes
		// its count: a status write, the common update, would cost an
		// uncached read of the account's Secret each.
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if accountOf(e.ObjectOld) != accountOf(e.ObjectNew) {
				enqueueAccountOf(q, e.ObjectOld)
				enqueueAccountOf(q, e.ObjectNew)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueAccountOf(q, e.Object)
		},
	}
}

func enqueueAccountOf(q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object) {
	if name := accountOf(obj); name != "" {
		q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
	}
}

// accountOf names the account a binding reads its key through, or "".
func accountOf(obj client.Object) string {
	if ref := asView(obj).Spec.AccountRef; ref != nil {
		return ref.Name
	}
	return ""
}

// describePace writes a pace as the status shows it: "5/s", "0.62/s", or
// "unlimited".
func describePace(pace float64) string {
	if math.IsInf(pace, 1) {
		return "unlimited"
	}
	return strconv.FormatFloat(pace, 'g', 2, 64) + "/s"
}
