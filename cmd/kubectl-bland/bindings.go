package main

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// binding names one binding a verb acts on: a PersonaBinding (pb/NAME, or
// NAME) or an AgentBinding (ab/NAME). The verbs read either as the operator
// plans it, a PersonaBinding (an AgentBinding's view), and write the object
// of its own kind.
type binding struct {
	key   types.NamespacedName
	agent bool
}

func (b binding) String() string {
	if b.agent {
		return "ab/" + b.key.String()
	}
	return b.key.String()
}

// parseBinding reads pb/NAME, ab/NAME (or the long kind names), or NAME.
func parseBinding(arg, ns string) (binding, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		kind, name = "pb", arg
	}
	b := binding{key: types.NamespacedName{Namespace: ns, Name: name}}
	switch strings.ToLower(kind) {
	case "pb", "personabinding", "personabindings", "personabinding.personas.bland-operator.dev":
	case "ab", "agentbinding", "agentbindings", "agentbinding.personas.bland-operator.dev":
		b.agent = true
	default:
		return b, fmt.Errorf("%q is not a PersonaBinding or an AgentBinding (name it pb/NAME or ab/NAME)", arg)
	}
	return b, nil
}

// object is an empty object of the binding's kind, named.
func (b binding) object() client.Object {
	if b.agent {
		ab := &v1alpha1.AgentBinding{}
		ab.Namespace, ab.Name = b.key.Namespace, b.key.Name
		return ab
	}
	pb := &v1alpha1.PersonaBinding{}
	pb.Namespace, pb.Name = b.key.Namespace, b.key.Name
	return pb
}

// get reads the binding as the operator plans it.
func (b binding) get(ctx context.Context, c client.Client) (*v1alpha1.PersonaBinding, error) {
	if !b.agent {
		pb := &v1alpha1.PersonaBinding{}
		return pb, c.Get(ctx, b.key, pb)
	}
	ab := &v1alpha1.AgentBinding{}
	if err := c.Get(ctx, b.key, ab); err != nil {
		return nil, err
	}
	return persona.AgentView(ab), nil
}

// allBindings lists every binding of both kinds in the namespace.
func allBindings(ctx context.Context, c client.Client, ns string) ([]binding, error) {
	var pbs v1alpha1.PersonaBindingList
	if err := c.List(ctx, &pbs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var abs v1alpha1.AgentBindingList
	if err := c.List(ctx, &abs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []binding
	for i := range pbs.Items {
		out = append(out, binding{key: client.ObjectKeyFromObject(&pbs.Items[i])})
	}
	for i := range abs.Items {
		out = append(out, binding{key: client.ObjectKeyFromObject(&abs.Items[i]), agent: true})
	}
	return out, nil
}
