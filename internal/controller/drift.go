package controller

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// drift is what a fresh read found changed behind the operator's back, by
// kind: owned numbers gone from the persona (attach puts them back), owned
// numbers whose settings changed, and unlisted numbers an exclusive binding
// sweeps (detach).
type drift struct {
	attach, settings, detach []string
}

func (d drift) empty() bool { return len(d.attach)+len(d.settings)+len(d.detach) == 0 }

// findDrift compares the read with the binding's record. Only a look at an
// unchanged spec counts (a resync or a requested reconcile): after a spec
// change, a difference is the change itself.
func findDrift(snap *v1alpha1.PersonaBinding, read observation, out *outcome) drift {
	var d drift
	if !read.complete || snap.Spec.Suspend || snap.Status.ObservedGeneration != snap.Generation {
		return d
	}
	record := ownershipOf(&snap.Status)
	applied := appliedSettings(&snap.Status)
	want := wantedSettings(&snap.Spec)
	for _, n := range snap.Spec.InboundNumbers {
		if !record.owns(n) || out.conflicts[n] != "" {
			continue
		}
		current, attached := read.numbers[n]
		switch {
		case !attached:
			d.attach = append(d.attach, n)
		case !want[n].IsEmpty() && !applied[n].IsEmpty() && !want[n].Equal(current):
			d.settings = append(d.settings, n)
		}
	}
	for _, n := range out.plan.Detach {
		if !record.owns(n) {
			d.detach = append(d.detach, n)
		}
	}
	return d
}

// reportDrift emits one Warning and counts each number, once the repair is done.
func (r *PersonaBindingReconciler) reportDrift(snap *v1alpha1.PersonaBinding, d drift) {
	if d.empty() {
		return
	}
	var parts []string
	if len(d.attach) > 0 {
		parts = append(parts, "re-attached "+listNumbers(d.attach)+" (detached or moved outside the operator)")
		metrics.DriftRepairs.WithLabelValues("attach").Add(float64(len(d.attach)))
	}
	if len(d.settings) > 0 {
		parts = append(parts, "re-applied the settings of "+listNumbers(d.settings)+" (changed outside the operator)")
		metrics.DriftRepairs.WithLabelValues("settings").Add(float64(len(d.settings)))
	}
	if len(d.detach) > 0 {
		parts = append(parts, "detached "+listNumbers(d.detach)+" (attached outside the operator, not listed)")
		metrics.DriftRepairs.WithLabelValues("detach").Add(float64(len(d.detach)))
	}
	r.event(snap, corev1.EventTypeWarning, "DriftRepaired", "Resync", "Persona %s drifted: %s", snap.Spec.PersonaID, strings.Join(parts, "; "))
}
