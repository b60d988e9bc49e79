package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// The calls a pass makes for its target. A persona is called through v1. An
// agent's numbers in one environment are called through v2, and each answer
// is told to the planner as a persona would have answered: the agent's
// numbers in that environment, with its routing persona as the name. No v1
// call is ever made to the routing persona in the agent's place.

// read reads the target's numbers.
func (r *PersonaReconciler) read(ctx context.Context, key, target string) (*bland.Persona, error) {
	agent, env, ok := persona.ParseAgentTarget(target)
	if !ok {
		return r.Bland.GetPersona(ctx, key, target)
	}
	in, err := r.Bland.AgentNumbers(ctx, key, agent)
	if err != nil {
		return nil, err
	}
	r.shareAgentRead(ctx, agent, env, in)
	return &bland.Persona{ID: target, Name: in.PersonaID, InboundNumbers: in.NumbersIn(string(env))}, nil
}

// shareAgentRead lets one read of an agent serve both its environments,
// so that an agent costs one read per resync. When the bindings of the
// other environment are all in sync (Ready Synced, nothing in doubt) and
// the read shows there exactly the numbers they hold, that target's resync
// is put one interval off: this read was its resync. Otherwise it keeps its
// own resync and reads then.
func (r *PersonaReconciler) shareAgentRead(ctx context.Context, agent string, env v1alpha1.AgentEnvironment, in *bland.AgentInbound) {
	other := v1alpha1.EnvironmentStaging
	if env == v1alpha1.EnvironmentStaging {
		other = v1alpha1.EnvironmentProduction
	}
	sibling := persona.AgentTarget(agent, other)
	views, err := r.listTarget(ctx, sibling)
	if err != nil || len(views) == 0 {
		return
	}
	held := map[string]bool{}
	interval := time.Duration(0)
	for _, pb := range views {
		if !pb.DeletionTimestamp.IsZero() || !trusted(pb) || persona.ReadyReason(pb) != v1alpha1.ReasonSynced {
			return
		}
		for _, n := range persona.Held(pb) {
			held[n] = true
		}
		if d := resyncInterval(pb); interval == 0 || d < interval {
			interval = d
		}
	}
	seen := in.NumbersIn(string(other))
	if len(seen) != len(held) {
		return
	}
	for _, n := range seen {
		if !held[n.PhoneNumber] {
			return
		}
	}
	r.memory.looked(sibling, interval, r.now())
}

// attachCall attaches nums for batch. An agent's attach answers what it
// attached, all or nothing; the planner is told the numbers it knew plus
// those, and the version it compiled is kept for the bindings' status.
func (r *PersonaReconciler) attachCall(ctx context.Context, p *pass, batch []persona.Move, nums []string) (*bland.Persona, error) {
	agent, env, ok := persona.ParseAgentTarget(p.id)
	if !ok {
		return r.Bland.AttachNumbers(ctx, p.keyFor(batch[0]), p.id, nums)
	}
	got, err := r.Bland.AttachToAgent(ctx, p.keyFor(batch[0]), agent, string(env), nums)
	if err != nil {
		return nil, err
	}
	for key := range byBinding(batch) {
		p.compiled[key] = string(got.CompiledFromVersion)
	}
	name := got.PersonaID
	if name == "" {
		name = p.heard.Obs.Name
	}
	return p.known(name, nums, nil), nil
}

// detachCall detaches nums for batch. An agent's detach answers a count:
// the planner is told the numbers it knew less those (a number not on the
// agent is gone either way).
func (r *PersonaReconciler) detachCall(ctx context.Context, p *pass, batch []persona.Move, nums []string) (*bland.Persona, error) {
	agent, _, ok := persona.ParseAgentTarget(p.id)
	if !ok {
		return r.Bland.DetachNumbers(ctx, p.keyFor(batch[0]), p.id, nums)
	}
	if _, err := r.Bland.DetachFromAgent(ctx, p.keyFor(batch[0]), agent, nums); err != nil {
		return nil, err
	}
	return p.known(p.heard.Obs.Name, nil, nums), nil
}

// known is the target as the pass knows it, with added attached and removed
// detached.
func (p *pass) known(name string, added, removed []string) *bland.Persona {
	nums := maps.Clone(p.heard.Obs.Numbers)
	if nums == nil {
		nums = map[string]*persona.Settings{}
	}
	for _, n := range added {
		nums[n] = nil
	}
	for _, n := range removed {
		delete(nums, n)
	}
	out := &bland.Persona{ID: p.id, Name: name}
	for _, n := range slices.Sorted(maps.Keys(nums)) {
		out.InboundNumbers = append(out.InboundNumbers, bland.InboundNumber{PhoneNumber: n})
	}
	return out
}
