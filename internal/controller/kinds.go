package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// This file is where the shell meets the two kinds. A pass plans for one
// target, a persona or an agent in one environment (persona.AgentTarget),
// and sees every binding as a PersonaBinding: an AgentBinding as its view
// (persona.AgentView). Reads make views; writes turn them back into
// AgentBindings. Nothing else in the shell tells the kinds apart, but for
// the calls to Bland (targets.go).

// listTarget lists, from the cache, the bindings of a target.
func (r *PersonaReconciler) listTarget(ctx context.Context, target string) ([]persona.PB, error) {
	if _, _, agent := persona.ParseAgentTarget(target); agent {
		var list v1alpha1.AgentBindingList
		if err := r.List(ctx, &list, client.MatchingFields{indexTarget: target}); err != nil {
			return nil, fmt.Errorf("listing the bindings of %s: %w", persona.TargetName(target), err)
		}
		return agentViews(list.Items), nil
	}
	var list v1alpha1.PersonaBindingList
	if err := r.List(ctx, &list, client.MatchingFields{indexTarget: target}); err != nil {
		return nil, fmt.Errorf("listing the bindings of %s: %w", persona.TargetName(target), err)
	}
	return pointers(list.Items), nil
}

// listNumber lists, from the cache, the bindings of either kind that list
// or hold a number.
func (r *PersonaReconciler) listNumber(ctx context.Context, n string, opts ...client.ListOption) ([]persona.PB, error) {
	list, err := r.listBoth(ctx, append(opts, client.MatchingFields{indexNumber: n})...)
	if err != nil {
		return nil, fmt.Errorf("listing the bindings of number %s: %w", n, err)
	}
	return list, nil
}

// listBoth lists, from the cache, the bindings of either kind that match.
func (r *PersonaReconciler) listBoth(ctx context.Context, opts ...client.ListOption) ([]persona.PB, error) {
	var pbs v1alpha1.PersonaBindingList
	if err := r.List(ctx, &pbs, opts...); err != nil {
		return nil, err
	}
	var abs v1alpha1.AgentBindingList
	if err := r.List(ctx, &abs, opts...); err != nil {
		return nil, err
	}
	return append(pointers(pbs.Items), agentViews(abs.Items)...), nil
}

// readLive reads a binding from the API server.
func (r *PersonaReconciler) readLive(ctx context.Context, pb persona.PB) (persona.PB, error) {
	if persona.IsAgentView(pb) {
		live := &v1alpha1.AgentBinding{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pb), live); err != nil {
			return nil, err
		}
		return persona.AgentView(live), nil
	}
	live := &v1alpha1.PersonaBinding{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pb), live); err != nil {
		return nil, err
	}
	return live, nil
}

// patchMeta patches next's metadata over cur, with cur's
// resourceVersion; next takes the server's answer.
func (r *PersonaReconciler) patchMeta(ctx context.Context, cur, next persona.PB) error {
	if !persona.IsAgentView(cur) {
		return r.Patch(ctx, next, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{}))
	}
	from, to := persona.AgentFromView(cur), persona.AgentFromView(next)
	if err := r.Patch(ctx, to, client.MergeFromWithOptions(from, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	next.ObjectMeta = to.ObjectMeta
	return nil
}

// patchStatusOf patches next's status over cur's. compiled, when set, is
// the agent version an attach of this pass compiled (AgentBindings only).
func (r *PersonaReconciler) patchStatusOf(ctx context.Context, cur, next persona.PB, compiled string) error {
	if !persona.IsAgentView(cur) {
		return r.Status().Patch(ctx, next, client.MergeFrom(cur))
	}
	from, to := persona.AgentFromView(cur), persona.AgentFromView(next)
	if compiled != "" {
		to.Status.CompiledFromVersion = compiled
	}
	if err := r.Status().Patch(ctx, to, client.MergeFrom(from)); err != nil {
		return err
	}
	next.ObjectMeta = to.ObjectMeta
	return nil
}

// regarding is the object events about a binding are recorded on.
func regarding(pb persona.PB) client.Object {
	if persona.IsAgentView(pb) {
		return persona.AgentFromView(pb)
	}
	return pb
}

// metricsKey names a binding in metrics: an AgentBinding's name carries
// its kind, so that it never shares a series with a PersonaBinding.
func metricsKey(pb persona.PB) types.NamespacedName {
	if persona.IsAgentView(pb) {
		return types.NamespacedName{Namespace: pb.Namespace, Name: persona.KindAgentBinding + "/" + pb.Name}
	}
	return client.ObjectKeyFromObject(pb)
}

func agentViews(items []v1alpha1.AgentBinding) []persona.PB {
	out := make([]persona.PB, 0, len(items))
	for i := range items {
		out = append(out, persona.AgentView(&items[i]))
	}
	return out
}

func pointers(items []v1alpha1.PersonaBinding) []persona.PB {
	out := make([]persona.PB, 0, len(items))
	for i := range items {
		out = append(out, &items[i])
	}
	return out
}
