package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/log"
)

// whereDrifted finds, for the numbers a fresh read found gone from the
// persona, the persona each is on now: Bland's agent API moves numbers to
// a persona it keeps for the agent, and the user needs to know which one
// took them. It lists the account's personas once, only when something
// drifted away; a failed list only leaves the places out of the event.
func (r *PersonaReconciler) whereDrifted(ctx context.Context, p *pass) map[string]string {
	gone := map[string]string{} // number -> the key of the binding that held it
	for key, d := range p.plan.Drift {
		for _, n := range d.Attach {
			gone[n] = key
		}
	}
	if len(gone) == 0 {
		return nil
	}
	var apiKey string
	for _, key := range gone {
		if apiKey = p.keys[key]; apiKey != "" {
			break
		}
	}
	if apiKey == "" {
		return nil
	}
	personas, err := r.Bland.ListPersonas(ctx, apiKey)
	if err != nil {
		log.FromContext(ctx).Info("could not find where drifted numbers went", "persona", p.id, "error", err.Error())
		return nil
	}
	movedTo := map[string]string{}
	for _, other := range personas {
		if other.ID == p.id || (p.agent() && other.ID == p.heard.Obs.Name) {
			continue // the target itself, or the agent's own routing persona
		}
		for _, n := range other.Numbers() {
			if _, ok := gone[n]; ok {
				movedTo[n] = fmt.Sprintf("persona %s (%q)", other.ID, other.Name)
			}
		}
	}
	return movedTo
}
