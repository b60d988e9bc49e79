package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// errPlanStale ends a pass whose next call was planned for numbers some
// binding has since added, dropped or let go: the change queues a new pass,
// which plans from it.
var errPlanStale = errors.New("a binding changed its numbers after this pass planned; planning again")

// lastLook is run by the Bland client just before an attach or detach is
// sent, after any wait for the rate limit or a Retry-After (seconds, under
// load). It refuses the call when, in the cache, a binding of the persona
// now lists one of its numbers that the snapshot did not, or no longer
// lists one it did: a detach planned before a user added the number back
// would take a number that is wanted.
func (r *PersonaReconciler) lastLook(ctx context.Context, p *pass, nums []string) func() error {
	return func() error {
		now, err := r.listTarget(ctx, p.id)
		if err != nil {
			return fmt.Errorf("%w (%w)", errPlanStale, err)
		}
		seen := map[string]bool{}
		for _, pb := range now {
			key := persona.KeyOf(pb)
			seen[key] = true
			var before *v1alpha1.PersonaBinding
			if b := p.binding(key); b != nil {
				before = b.Object
				if pb.Generation <= before.Generation && pb.DeletionTimestamp.IsZero() == before.DeletionTimestamp.IsZero() {
					continue // unchanged, or the cache has not caught up with the snapshot's live read
				}
			}
			if changedFor(nums, before, pb) {
				return errPlanStale
			}
		}
		for i := range p.bindings {
			if b := p.bindings[i].Object; !seen[p.bindings[i].Key()] && changedFor(nums, b, nil) {
				return errPlanStale // gone, or moved to another persona
			}
		}
		return nil
	}
}

// changedFor reports whether one of nums is listed, by a binding not being
// deleted, in only one of before and after (either may be nil).
func changedFor(nums []string, before, after *v1alpha1.PersonaBinding) bool {
	for _, n := range nums {
		if listsLive(before, n) != listsLive(after, n) {
			return true
		}
	}
	return false
}

func listsLive(pb *v1alpha1.PersonaBinding, n string) bool {
	return pb != nil && pb.DeletionTimestamp.IsZero() && slices.Contains(pb.Spec.InboundNumbers, n)
}
