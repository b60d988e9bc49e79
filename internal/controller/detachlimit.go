package controller

import (
	"fmt"
	"strconv"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// detachLimit is the binding's limit, or the manager's default when unset;
// 0 means no limit.
func (r *PersonaBindingReconciler) detachLimit(pb *v1alpha1.PersonaBinding) int {
	if pb.Spec.DetachLimit != nil {
		return int(*pb.Spec.DetachLimit)
	}
	return int(r.DefaultDetachLimit)
}

// approved reports whether a person approved the detaches of this exact
// generation's spec.
func approved(pb *v1alpha1.PersonaBinding) bool {
	return pb.Annotations[v1alpha1.ApproveDetachAnnotation] == strconv.FormatInt(pb.Generation, 10)
}

// holdBackDetaches keeps a plan that would detach more numbers than the limit
// from detaching any, unless approved: one bad commit that empties a list must
// not cut off a phone line. Attaches and settings go ahead.
func (r *PersonaBindingReconciler) holdBackDetaches(snap *v1alpha1.PersonaBinding, out *outcome) {
	limit := r.detachLimit(snap)
	if limit == 0 || len(out.plan.Detach) <= limit || approved(snap) {
		return
	}
	out.pendingDetach, out.pendingLimit = out.plan.Detach, limit
	out.plan.Detach = nil
}

// detachLimitMessage says how many wait, the limit, and how to approve.
func detachLimitMessage(snap *v1alpha1.PersonaBinding, limit int, pending []string) string {
	return fmt.Sprintf("%d numbers would be detached (%s), over the detach limit of %d; to approve, run: kubectl annotate pb -n %s %s %s=%d --overwrite",
		len(pending), listNumbers(pending), limit, snap.Namespace, snap.Name, v1alpha1.ApproveDetachAnnotation, snap.Generation)
}
