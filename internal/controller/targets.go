package controller

import (
	"context"
	"maps"
	"slices"

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
	return &bland.Persona{ID: target, Name: in.PersonaID, InboundNumbers: in.NumbersIn(string(env))}, nil
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
