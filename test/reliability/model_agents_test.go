package reliability

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// AgentBindings in the model. A run has one agent, and one binding in four
// it creates is an AgentBinding of it: the model sees it as a binding of the
// agent's routing persona (where Bland keeps the agent's numbers), so that
// every check of a persona holds of the agent too, and a number moves
// between the kinds as it moves between personas. Its own random source
// decides which bindings are agents', so that the other draws of a seed are
// the same with or without agents. The ciSeeds found their defects before
// AgentBindings existed and replay without them (as does any seed with
// MODEL_AGENTS=0), so that they stay the workloads that found them.

// addAgent gives the run its agent, unless MODEL_AGENTS=0 or the seed is
// one of personaSeeds.
func (r *modelRun) addAgent() {
	if os.Getenv("MODEL_AGENTS") == "0" || slices.Contains(personaSeeds, r.seed) {
		return
	}
	r.agent = r.ns + "-agent"
	r.kinds = rand.New(rand.NewPCG(r.seed, 0xa9e7))
	sim.AddAgent(r.key, r.agent, blandsim.AgentOptions{})
}

// maybeAgent makes b, one time in four, a binding of the run's agent.
func (r *modelRun) maybeAgent(b *modelBinding) {
	if r.agent == "" || r.kinds.IntN(4) != 0 {
		return
	}
	b.agent, b.persona, b.settings = r.agent, blandsim.AgentPersonaID(r.agent), nil
}

// targets are the personas whose numbers the model checks: the run's, and
// its agent's routing persona.
func (r *modelRun) targets() []string {
	if r.agent == "" {
		return r.personas
	}
	return append(slices.Clone(r.personas), blandsim.AgentPersonaID(r.agent))
}

// callKeys name the run's calls in the simulator's history: a persona's
// calls by the persona, the agent's by the agent.
func (r *modelRun) callKeys() []string {
	if r.agent == "" {
		return r.personas
	}
	return append(slices.Clone(r.personas), r.agent)
}

// object is b as the API object of its kind.
func (r *modelRun) object(b modelBinding) client.Object {
	pb := r.toObject(b)
	if b.agent == "" {
		return pb
	}
	s := pb.Spec
	return &v1alpha1.AgentBinding{
		ObjectMeta: pb.ObjectMeta,
		Spec: v1alpha1.AgentBindingSpec{AgentID: b.agent, InboundNumbers: s.InboundNumbers,
			CredentialsRef: s.CredentialsRef, AccountRef: s.AccountRef, Exclusive: s.Exclusive, Suspend: s.Suspend,
			DeletionPolicy: s.DeletionPolicy, ResyncInterval: s.ResyncInterval, DetachLimit: s.DetachLimit},
	}
}

// writeSpec writes b's spec over the binding's latest copy and returns
// the generation it made.
func (r *modelRun) writeSpec(b modelBinding) (int64, error) {
	var gen int64
	key := client.ObjectKey{Namespace: r.ns, Name: b.name}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, want := r.object(b), r.object(b)
		if err := k8s.Get(r.ctx, key, cur); err != nil {
			return err
		}
		switch c := cur.(type) {
		case *v1alpha1.PersonaBinding:
			c.Spec = want.(*v1alpha1.PersonaBinding).Spec
		case *v1alpha1.AgentBinding:
			c.Spec = want.(*v1alpha1.AgentBinding).Spec
		}
		if err := k8s.Update(r.ctx, cur); err != nil {
			return err
		}
		gen = cur.GetGeneration()
		return nil
	})
	return gen, err
}

// emptyObject names b's object, for a delete or a patch.
func (r *modelRun) emptyObject(b modelBinding) client.Object {
	meta := metav1.ObjectMeta{Namespace: r.ns, Name: b.name}
	if b.agent != "" {
		return &v1alpha1.AgentBinding{ObjectMeta: meta}
	}
	return &v1alpha1.PersonaBinding{ObjectMeta: meta}
}

// modelView is an AgentBinding as the model checks it: a PersonaBinding of
// the agent's routing persona, with its metadata and status.
func modelView(ab *v1alpha1.AgentBinding) *v1alpha1.PersonaBinding {
	v := persona.AgentView(ab)
	v.Spec.PersonaID = blandsim.AgentPersonaID(ab.Spec.AgentID)
	v.Status.PersonaName = ""
	return v
}

// listViews lists the namespace's bindings of both kinds, AgentBindings as
// their model views.
func listViews(ctx context.Context, ns string) ([]v1alpha1.PersonaBinding, error) {
	var pbs v1alpha1.PersonaBindingList
	if err := k8s.List(ctx, &pbs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var abs v1alpha1.AgentBindingList
	if err := k8s.List(ctx, &abs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	out := pbs.Items
	for i := range abs.Items {
		out = append(out, *modelView(&abs.Items[i]))
	}
	return out, nil
}

// callTarget is the persona the model checks a call against: the routing
// persona for the agent's calls.
func (r *modelRun) callTarget(c blandsim.Call) string {
	if r.agent != "" && c.PersonaID == r.agent {
		return blandsim.AgentPersonaID(r.agent)
	}
	return c.PersonaID
}

// reportKindMoves reports how many times an answered attach moved a number
// between the kinds (onto the agent from one of the run's personas, or the
// reverse) with no detach in between: the handovers across kinds the run
// made, which every check of the run then judged.
func (r *modelRun) reportKindMoves(calls []blandsim.Call) {
	if r.agent == "" {
		return
	}
	routing := blandsim.AgentPersonaID(r.agent)
	on, moves := map[string]string{}, 0
	for _, c := range slices.SortedFunc(slices.Values(calls), func(a, b blandsim.Call) int { return a.Done.Compare(b.Done) }) {
		if c.Status != 200 {
			continue
		}
		target := r.callTarget(c)
		for _, n := range c.Numbers {
			switch c.Endpoint {
			case blandsim.EndpointAttach, blandsim.EndpointAgentAttach:
				if prev := on[n]; prev != "" && (prev == routing) != (target == routing) {
					moves++
				}
				on[n] = target
			case blandsim.EndpointDetach, blandsim.EndpointAgentDetach:
				if on[n] == target {
					delete(on, n)
				}
			}
		}
	}
	report(r.t, "%d numbers moved between a persona and the agent by one attach", moves)
}
