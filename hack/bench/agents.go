package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// p11 creates 1,000 AgentBindings on 100 agents (10 each, with numbers of
// their own) at once and times them to Ready against the API-server floor
// for as many bindings (measured with PersonaBindings: a binding costs the
// API server the same three writes whatever its kind), and counts Bland's
// calls per agent.
func (b *bench) p11() {
	n := b.scaled(1000)
	floor := b.floorThenManager(n, "--api-qps=-1")
	start := time.Now()
	g := b.makeAgentGroup("p11", n, 10)
	took := b.awaitReady(g, readyLimit(n)).Sub(start)
	time.Sleep(3 * time.Second) // a call the burst still causes lands before counting
	most, all := 0, 0
	for _, agent := range g.personas {
		calls := len(b.sim.CallsFor(agent))
		most, all = max(most, calls), all+calls
	}
	ratio, vs := againstFloor(took, floor)
	b.add(row{"P11", fmt.Sprintf("%s AgentBindings on %s agents (10 each) created at once, all Ready, bucket off, as a multiple of the API-server floor; Bland calls (reads and writes) per agent",
		thousands(n), thousands(len(g.personas))),
		fmt.Sprintf("%s; %.2f calls per agent, at most %d", vs, float64(all)/float64(len(g.personas)), most), "<= 1.5x; <= 2 per agent", ratio <= 1.5 && most <= 2})
}

// makeAgentGroup creates n AgentBindings of two numbers each, perAgent
// bindings per agent, in a namespace of their own. The group's personas
// are its agents.
func (h *harness) makeAgentGroup(name string, n, perAgent int) *group {
	ctx := context.Background()
	g, key, numbers := h.newGroup(name, n)
	g.agents = true
	for a := 0; a*perAgent < n; a++ {
		id := fmt.Sprintf("%s-agent-%d", name, a)
		h.sim.AddAgent(key, id, blandsim.AgentOptions{})
		g.personas = append(g.personas, id)
	}
	g.bindings = make([]*v1alpha1.PersonaBinding, n)
	parallel(n, 32, func(i int) {
		ab := &v1alpha1.AgentBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", name, i), Namespace: g.ns},
			Spec: v1alpha1.AgentBindingSpec{
				AgentID:        g.personas[i/perAgent],
				InboundNumbers: []string{numbers[2*i], numbers[2*i+1]},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
			},
		}
		check(h.k8s.Create(ctx, ab))
		h.createdAt.Store(client.ObjectKeyFromObject(ab).String(), time.Now())
		g.bindings[i] = persona.AgentView(ab)
	})
	return g
}
