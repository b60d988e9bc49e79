package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// personaReader is all a plan may do with Bland: read a persona, or the
// numbers routed to an agent. The plan holds its client only through this,
// so no code path of it can write.
type personaReader interface {
	GetPersona(ctx context.Context, apiKey, personaID string) (*bland.Persona, error)
	AgentNumbers(ctx context.Context, apiKey, agentID string) (*bland.AgentInbound, error)
}

// refresh reads each persona and agent involved once, with the key of one
// of its bindings (or --api-key-file), and returns what is attached to each
// target, and the personas Bland says do not exist (or that key may not
// see). Bland answers an unknown agent as one with no numbers; the
// operator learns it is unknown only from its attach.
func (o *planOptions) readBland(ctx context.Context, c client.Client, proposed []*v1alpha1.PersonaBinding, live []v1alpha1.PersonaBinding) (map[string]map[string]*persona.Settings, map[string]bool, error) {
	reader, err := bland.New(bland.Options{BaseURL: o.apiURL, AllowInsecure: o.allowInsecureAPI, QPS: 5, Burst: 5})
	if err != nil {
		return nil, nil, err
	}
	return readPersonas(ctx, reader, func(id string) (string, error) { return o.keyFor(ctx, c, id, proposed, live) }, personaIDs(proposed, live))
}

// readPersonas reads each target: a persona, or an agent's numbers in one
// environment, as the operator reads them. A persona Bland does not know is planned as
// the operator would meet it (its bindings stall, PersonaNotFound), not a
// reason to abandon the plan: catching a wrong persona ID is what a
// refreshed plan is for.
func readPersonas(ctx context.Context, reader personaReader, key func(personaID string) (string, error), ids []string) (map[string]map[string]*persona.Settings, map[string]bool, error) {
	out, missing := map[string]map[string]*persona.Settings{}, map[string]bool{}
	agents := map[string]*bland.AgentInbound{}
	for _, id := range ids {
		k, err := key(id)
		if err != nil {
			return nil, nil, err
		}
		got, err := readTarget(ctx, reader, agents, k, id)
		switch {
		case bland.KindOf(err) == bland.KindNotFound:
			missing[id] = true
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("reading %s from Bland: %w", persona.TargetName(id), err)
		}
		out[id] = persona.NumbersOf(got)
	}
	return out, missing, nil
}

// readTarget reads a persona, or an agent's numbers in the target's
// environment as a persona's. An agent is read once for both environments
// (agents holds the answers read so far).
func readTarget(ctx context.Context, reader personaReader, agents map[string]*bland.AgentInbound, key, target string) (*bland.Persona, error) {
	agent, env, ok := persona.ParseAgentTarget(target)
	if !ok {
		return reader.GetPersona(ctx, key, target)
	}
	in := agents[agent]
	if in == nil {
		var err error
		if in, err = reader.AgentNumbers(ctx, key, agent); err != nil {
			return nil, err
		}
		agents[agent] = in
	}
	return &bland.Persona{ID: target, Name: in.PersonaID, InboundNumbers: in.NumbersIn(string(env))}, nil
}

// personaIDs are the targets the plan covers: those the proposed bindings
// name, and those they named before.
func personaIDs(proposed []*v1alpha1.PersonaBinding, live []v1alpha1.PersonaBinding) []string {
	var ids []string
	named := map[string]bool{}
	for _, pb := range proposed {
		ids = append(ids, pb.Spec.PersonaID)
		named[persona.KeyOf(pb)] = true
	}
	for i := range live {
		if named[persona.KeyOf(&live[i])] {
			ids = append(ids, live[i].Spec.PersonaID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// keyFor is the API key to read the persona with: --api-key-file, else the
// Secret a binding of the persona names (directly or through its
// ClusterBlandAccount), if the user may read it.
func (o *planOptions) keyFor(ctx context.Context, c client.Client, id string, proposed []*v1alpha1.PersonaBinding, live []v1alpha1.PersonaBinding) (string, error) {
	if o.apiKeyFile != "" {
		raw, err := os.ReadFile(o.apiKeyFile)
		if err != nil {
			return "", fmt.Errorf("--api-key-file: %w", err)
		}
		return strings.TrimSpace(string(raw)), nil
	}
	candidates := slices.Clone(proposed)
	for i := range live {
		candidates = append(candidates, &live[i])
	}
	var tried []string
	for _, pb := range candidates {
		if pb.Spec.PersonaID != id {
			continue
		}
		ns, name, key, err := secretOf(ctx, c, pb)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		var secret corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &secret); err != nil {
			tried = append(tried, fmt.Sprintf("Secret %s/%s: %v", ns, name, err))
			continue
		}
		if v := strings.TrimSpace(string(secret.Data[key])); v != "" {
			return v, nil
		}
		tried = append(tried, fmt.Sprintf("Secret %s/%s has no key %q", ns, name, key))
	}
	return "", fmt.Errorf("no API key to read %s (%s); pass --api-key-file", persona.TargetName(id), strings.Join(slices.Compact(tried), "; "))
}

// secretOf names the Secret and key holding a binding's API key.
func secretOf(ctx context.Context, c client.Client, pb *v1alpha1.PersonaBinding) (ns, name, key string, err error) {
	switch {
	case pb.Spec.AccountRef != nil:
		var acct v1alpha1.ClusterBlandAccount
		if err := c.Get(ctx, client.ObjectKey{Name: pb.Spec.AccountRef.Name}, &acct); err != nil {
			return "", "", "", fmt.Errorf("ClusterBlandAccount %s: %w", pb.Spec.AccountRef.Name, err)
		}
		ref := acct.Spec.SecretRef
		return ref.Namespace, ref.Name, orAPIKey(ref.Key), nil
	case pb.Spec.CredentialsRef != nil:
		return pb.Namespace, pb.Spec.CredentialsRef.Name, orAPIKey(pb.Spec.CredentialsRef.Key), nil
	}
	return "", "", "", fmt.Errorf("%s/%s names no credentials", pb.Namespace, pb.Name)
}

func orAPIKey(key string) string {
	if key == "" {
		return "apiKey"
	}
	return key
}
