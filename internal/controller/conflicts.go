package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Cache indexes on PersonaBindings, so that finding the bindings that share a
// number or a persona costs no API call and no scan of every binding.
const (
	indexNumber  = "spec.inboundNumbers"
	indexPersona = "spec.personaID"
	indexAccount = "spec.accountRef.name"
	indexOwned   = "status.boundNumbers"
)

func addIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.PersonaBinding{}, indexNumber, func(o client.Object) []string {
		return o.(*v1alpha1.PersonaBinding).Spec.InboundNumbers
	}); err != nil {
		return fmt.Errorf("indexing bindings by number: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.PersonaBinding{}, indexPersona, func(o client.Object) []string {
		return []string{o.(*v1alpha1.PersonaBinding).Spec.PersonaID}
	}); err != nil {
		return fmt.Errorf("indexing bindings by persona: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.PersonaBinding{}, indexAccount, func(o client.Object) []string {
		if ref := o.(*v1alpha1.PersonaBinding).Spec.AccountRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing bindings by account: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.PersonaBinding{}, indexOwned, func(o client.Object) []string {
		return o.(*v1alpha1.PersonaBinding).Status.BoundNumbers
	}); err != nil {
		return fmt.Errorf("indexing bindings by owned number: %w", err)
	}
	return nil
}

// conflictSet maps each desired number an older binding holds to that
// binding's namespace/name.
type conflictSet map[string]string

// sameAs reports whether the conflicts match those recorded in status.
func (c conflictSet) sameAs(numbers []v1alpha1.NumberStatus) bool {
	recorded := 0
	for _, n := range numbers {
		if n.State != v1alpha1.NumberConflict {
			continue
		}
		recorded++
		if _, ok := c[n.Number]; !ok {
			return false
		}
	}
	return recorded == len(c)
}

// olderThan orders bindings by creation time, then namespace/name: the older
// binding keeps a contested number, so the outcome never flips back and forth.
func olderThan(a, b *v1alpha1.PersonaBinding) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return keyOf(a).String() < keyOf(b).String()
}

// live reports whether other is another binding that still holds its claims.
func live(pb, other *v1alpha1.PersonaBinding) bool {
	return other.UID != pb.UID && other.DeletionTimestamp.IsZero()
}

// findConflicts returns the desired numbers of pb that an older binding holds:
// one that lists the same number, or, when either of the two is exclusive, any
// older binding on the same persona. lostPersona says the latter happened: an
// exclusive binding that lost its persona to an older one sweeps nothing.
func (r *PersonaBindingReconciler) findConflicts(ctx context.Context, pb *v1alpha1.PersonaBinding) (c conflictSet, lostPersona bool, err error) {
	out := conflictSet{}
	var onPersona v1alpha1.PersonaBindingList
	if err := r.List(ctx, &onPersona, client.MatchingFields{indexPersona: pb.Spec.PersonaID}); err != nil {
		return nil, false, fmt.Errorf("listing bindings of persona %s: %w", pb.Spec.PersonaID, err)
	}
	for i := range onPersona.Items {
		other := &onPersona.Items[i]
		if live(pb, other) && olderThan(other, pb) && (pb.Spec.Exclusive || other.Spec.Exclusive) {
			lostPersona = true
			for _, n := range pb.Spec.InboundNumbers {
				out.add(n, other)
			}
		}
	}
	for _, n := range pb.Spec.InboundNumbers {
		var same v1alpha1.PersonaBindingList
		if err := r.List(ctx, &same, client.MatchingFields{indexNumber: n}); err != nil {
			return nil, false, fmt.Errorf("listing bindings of number %s: %w", n, err)
		}
		for i := range same.Items {
			if other := &same.Items[i]; live(pb, other) && olderThan(other, pb) {
				out.add(n, other)
			}
		}
	}
	return out, lostPersona, nil
}

func (c conflictSet) add(number string, holder *v1alpha1.PersonaBinding) {
	if _, ok := c[number]; !ok {
		c[number] = keyOf(holder).String()
	}
}

// listedElsewhere returns which of numbers another live binding lists. Those
// are never detached by exclusive mode or by a deletion: someone still wants them.
func (r *PersonaBindingReconciler) listedElsewhere(ctx context.Context, pb *v1alpha1.PersonaBinding, numbers []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, n := range numbers {
		var same v1alpha1.PersonaBindingList
		if err := r.List(ctx, &same, client.MatchingFields{indexNumber: n}); err != nil {
			return nil, fmt.Errorf("listing bindings of number %s: %w", n, err)
		}
		for i := range same.Items {
			if live(pb, &same.Items[i]) {
				out[n] = true
			}
		}
	}
	return out, nil
}

// takerOf returns another binding of pb's persona that lists number and can
// hold it now, so a number pb lets go of is handed over instead of detached:
// live, not suspended, and not stalled on its credentials or its persona.
func (r *PersonaBindingReconciler) takerOf(ctx context.Context, pb *v1alpha1.PersonaBinding, number string) (*v1alpha1.PersonaBinding, error) {
	var same v1alpha1.PersonaBindingList
	if err := r.List(ctx, &same, client.MatchingFields{indexNumber: number}); err != nil {
		return nil, fmt.Errorf("listing bindings of number %s: %w", number, err)
	}
	var taker *v1alpha1.PersonaBinding
	for i := range same.Items {
		other := &same.Items[i]
		if !live(pb, other) || other.Spec.PersonaID != pb.Spec.PersonaID || !canTake(other) {
			continue
		}
		if taker == nil || olderThan(other, taker) {
			taker = other
		}
	}
	return taker, nil
}

// canTake reports whether a binding would adopt a number handed to it.
func canTake(pb *v1alpha1.PersonaBinding) bool {
	if pb.Spec.Suspend {
		return false
	}
	switch readyReason(pb) {
	case v1alpha1.ReasonCredentialsNotFound, v1alpha1.ReasonUnauthorized, v1alpha1.ReasonPersonaNotFound, v1alpha1.ReasonAccountNotPermitted:
		return false
	}
	return true
}

// pokeOwnersElsewhere wakes, for a fresh look, the bindings of other personas
// whose record says they own numbers just attached here: attaching moved the
// numbers away from their personas, which no lock of this persona covers.
func (r *PersonaBindingReconciler) pokeOwnersElsewhere(ctx context.Context, pb *v1alpha1.PersonaBinding, attached []string) {
	var owners []v1alpha1.PersonaBinding
	for _, n := range attached {
		var list v1alpha1.PersonaBindingList
		if err := r.List(ctx, &list, client.MatchingFields{indexOwned: n}); err != nil {
			continue
		}
		for _, other := range list.Items {
			if other.UID != pb.UID && other.Spec.PersonaID != pb.Spec.PersonaID {
				owners = append(owners, other)
			}
		}
	}
	for _, req := range r.poke(owners) {
		r.requeue(req.NamespacedName)
	}
}

// bindingsOfPersona returns the bindings that name the persona.
func (r *PersonaBindingReconciler) bindingsOfPersona(ctx context.Context, personaID string) []v1alpha1.PersonaBinding {
	var list v1alpha1.PersonaBindingList
	if err := r.List(ctx, &list, client.MatchingFields{indexPersona: personaID}); err != nil {
		return nil
	}
	return list.Items
}

// bindingsSharing returns the other bindings that list one of pb's numbers or
// name its persona.
func (r *PersonaBindingReconciler) bindingsSharing(ctx context.Context, pb *v1alpha1.PersonaBinding) []v1alpha1.PersonaBinding {
	out := r.bindingsOfPersona(ctx, pb.Spec.PersonaID)
	for _, n := range pb.Spec.InboundNumbers {
		var same v1alpha1.PersonaBindingList
		if err := r.List(ctx, &same, client.MatchingFields{indexNumber: n}); err == nil {
			out = append(out, same.Items...)
		}
	}
	return out
}
