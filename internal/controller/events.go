package controller

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/metrics"
	"github.com/bland-operator/bland-operator/internal/persona"
)

func (r *PersonaReconciler) event(pb *v1alpha1.PersonaBinding, kind, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(regarding(pb), nil, kind, reason, action, note, args...)
	}
}

// warnOnNewFailure emits one Warning when a binding enters a failing state,
// not on every retry.
func (r *PersonaReconciler) warnOnNewFailure(pb *v1alpha1.PersonaBinding, previous string) {
	reason := persona.ReadyReason(pb)
	if reason == previous || !persona.Reason(reason).Warns {
		return
	}
	for _, c := range pb.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			r.event(pb, corev1.EventTypeWarning, reason, "Sync", "%s", c.Message)
		}
	}
}

// reportDrift emits one Warning and counts each number a fresh read found
// changed behind the operator's back.
func (r *PersonaReconciler) reportDrift(pb *v1alpha1.PersonaBinding, d persona.Drift, movedTo map[string]string) {
	if d.Empty() {
		return
	}
	var parts []string
	if len(d.Attach) > 0 {
		parts = append(parts, "re-attached "+persona.List(d.Attach)+" (detached or moved outside the operator"+where(d.Attach, movedTo)+")")
		metrics.DriftRepairs.WithLabelValues("attach").Add(float64(len(d.Attach)))
	}
	if len(d.Settings) > 0 {
		parts = append(parts, "re-applied the settings of "+persona.List(d.Settings)+" (changed outside the operator)")
		metrics.DriftRepairs.WithLabelValues("settings").Add(float64(len(d.Settings)))
	}
	if len(d.Detach) > 0 {
		parts = append(parts, "detached "+persona.List(d.Detach)+" (attached outside the operator, not listed)")
		metrics.DriftRepairs.WithLabelValues("detach").Add(float64(len(d.Detach)))
	}
	r.event(pb, corev1.EventTypeWarning, "DriftRepaired", "Resync", "%s drifted: %s", capitalized(persona.TargetName(pb.Spec.PersonaID)), strings.Join(parts, "; "))
}

// where says which personas drifted numbers were found on, if any.
func where(nums []string, movedTo map[string]string) string {
	var found []string
	for _, n := range nums {
		if p := movedTo[n]; p != "" {
			found = append(found, n+" was on "+p)
		}
	}
	if len(found) == 0 {
		return ""
	}
	return "; " + strings.Join(found, ", ")
}

// capitalized starts a message with a capital letter.
func capitalized(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
