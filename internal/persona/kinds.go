package persona

import (
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// An AgentBinding is planned as a PersonaBinding whose target is an agent in
// one environment (AgentView): the owner function, the plan and the status
// are the same for both kinds. Its key and its name in messages say its
// kind, so that a PersonaBinding and an AgentBinding of the same name never
// stand for each other.

// KindAgentBinding is the kind an AgentBinding's view carries.
const KindAgentBinding = "AgentBinding"

const agentKeyPrefix = KindAgentBinding + "/"

// IsAgentView reports whether pb stands for an AgentBinding.
func IsAgentView(pb PB) bool { return pb.Kind == KindAgentBinding }

// KeyOf names a binding uniquely across kinds: namespace/name for a
// PersonaBinding, AgentBinding/namespace/name for an AgentBinding.
func KeyOf(pb PB) string {
	if IsAgentView(pb) {
		return agentKeyPrefix + pb.Namespace + "/" + pb.Name
	}
	return pb.Namespace + "/" + pb.Name
}

// SplitKey returns a key's kind and its namespace/name.
func SplitKey(key string) (kind, name string) {
	if rest, ok := strings.CutPrefix(key, agentKeyPrefix); ok {
		return KindAgentBinding, rest
	}
	return "PersonaBinding", key
}

// Named is a key as messages show it: "PersonaBinding ns/name" or
// "AgentBinding ns/name".
func Named(key string) string {
	kind, name := SplitKey(key)
	return kind + " " + name
}

// AgentTarget is the target an agent's bindings in one environment are
// planned for, in place of a persona ID. A persona ID cannot contain ':'.
func AgentTarget(agentID string, env v1alpha1.AgentEnvironment) string {
	if env == "" {
		env = v1alpha1.EnvironmentProduction
	}
	return "agent:" + agentID + ":" + string(env)
}

// ParseAgentTarget returns the agent and environment of a target made by
// AgentTarget; ok is false for a persona ID.
func ParseAgentTarget(target string) (agentID string, env v1alpha1.AgentEnvironment, ok bool) {
	rest, ok := strings.CutPrefix(target, "agent:")
	if !ok {
		return "", "", false
	}
	id, e, ok := strings.Cut(rest, ":")
	return id, v1alpha1.AgentEnvironment(e), ok
}

// AgentView is the AgentBinding as the planner sees it: a PersonaBinding of
// kind AgentBinding whose persona is the agent's target. It shares nothing
// with ab that the planner could change.
func AgentView(ab *v1alpha1.AgentBinding) PB {
	s := ab.Spec
	return &v1alpha1.PersonaBinding{
		TypeMeta:   metav1.TypeMeta{Kind: KindAgentBinding, APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: *ab.ObjectMeta.DeepCopy(),
		Spec: v1alpha1.PersonaBindingSpec{
			PersonaID:      AgentTarget(s.AgentID, s.Environment),
			InboundNumbers: append([]string(nil), s.InboundNumbers...),
			CredentialsRef: s.CredentialsRef.DeepCopy(),
			AccountRef:     s.AccountRef.DeepCopy(),
			Exclusive:      s.Exclusive,
			DeletionPolicy: s.DeletionPolicy,
			Suspend:        s.Suspend,
			ResyncInterval: s.ResyncInterval.DeepCopy(),
			DetachLimit:    copyInt32(s.DetachLimit),
		},
		Status: viewStatus(ab),
	}
}

// viewStatus is an AgentBinding's status as its view carries it: the
// routing persona as the persona name, or, until Bland names one, the
// target (as a persona's ID stands for its name until Bland answers).
func viewStatus(ab *v1alpha1.AgentBinding) v1alpha1.PersonaBindingStatus {
	st := *ab.Status.PersonaBindingStatus.DeepCopy()
	st.PersonaName = ab.Status.PersonaID
	if st.PersonaName == "" && ab.Status.ObservedGeneration > 0 {
		st.PersonaName = AgentTarget(ab.Spec.AgentID, ab.Spec.Environment)
	}
	return st
}

func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// TargetName names a target in messages: "persona ID" or "agent ID
// (environment)".
func TargetName(target string) string {
	if agent, env, ok := ParseAgentTarget(target); ok {
		return "agent " + agent + " (" + string(env) + ")"
	}
	return "persona " + target
}

// AgentFromView is the AgentBinding a view stands for, with the view's
// metadata and status: what the shell writes back. The routing persona
// travels in the view as its persona name (the agent's read names it).
func AgentFromView(view PB) *v1alpha1.AgentBinding {
	agent, env, _ := ParseAgentTarget(view.Spec.PersonaID)
	s := view.Spec
	ab := &v1alpha1.AgentBinding{
		TypeMeta:   metav1.TypeMeta{Kind: KindAgentBinding, APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: *view.ObjectMeta.DeepCopy(),
		Spec: v1alpha1.AgentBindingSpec{
			AgentID: agent, Environment: env,
			InboundNumbers: append([]string(nil), s.InboundNumbers...),
			CredentialsRef: s.CredentialsRef.DeepCopy(), AccountRef: s.AccountRef.DeepCopy(),
			Exclusive: s.Exclusive, DeletionPolicy: s.DeletionPolicy, Suspend: s.Suspend,
			ResyncInterval: s.ResyncInterval.DeepCopy(), DetachLimit: copyInt32(s.DetachLimit),
		},
	}
	ab.Status.PersonaBindingStatus = *view.Status.DeepCopy()
	ab.Status.PersonaID, ab.Status.PersonaName = view.Status.PersonaName, ""
	if ab.Status.PersonaID == view.Spec.PersonaID {
		ab.Status.PersonaID = "" // no routing persona named yet
	}
	return ab
}

// HandedAcrossKinds says a number b holds and no longer wants goes to
// claimant, a live binding of the other kind that can take it: its status
// reports no stall that keeps it from holding numbers, and does not show it
// shut out of its own target (shutOut). Judged from the claimant's status:
// if that is stale, the claimant's next write changes its record, which
// wakes this target.
func HandedAcrossKinds(b *Binding, claimant PB, n string) bool {
	if claimant == nil || claimant == b.Object || IsAgentView(claimant) == IsAgentView(b.Object) || !claimant.DeletionTimestamp.IsZero() {
		return false
	}
	return !Reason(ReadyReason(claimant)).Blocks && !claimant.Spec.Suspend && !shutOut(claimant, n)
}

// heldByOlder starts the message of a number an older binding holds.
const heldByOlder = "held by older "

// shutOut says the binding's status shows n held by an older binding of
// its own kind: on its own target, an exclusive binding keeps it out (the
// only way the oldest binding listing a number loses it). A conflict
// naming a binding of the other kind is the one the handover ends: the
// giver was older.
func shutOut(pb PB, n string) bool {
	kind, _ := SplitKey(KeyOf(pb))
	for _, ns := range pb.Status.Numbers {
		if ns.Number == n && ns.State == v1alpha1.NumberConflict && strings.HasPrefix(ns.Message, heldByOlder+kind+" ") {
			return true
		}
	}
	return false
}

// Reattach adds to an agent's plan an attach of every number it holds and
// Bland shows routed to it. Bland compiles an agent when numbers are
// attached, and until a production version is promoted the numbers run the
// version saved at that time: a reconcile a person requests attaches them
// again, so that they run the newest saved version.
func Reattach(p Plan, owners Owners, obs Observation) Plan {
	planned := map[string]bool{}
	for _, m := range p.Attach {
		planned[m.Number] = true
	}
	for _, n := range slices.Sorted(maps.Keys(owners.Holder)) {
		if obs.Has(n) && !obs.Unsettled[n] && !planned[n] {
			p.Attach = append(p.Attach, Move{Number: n, Binding: owners.Holder[n]})
		}
	}
	return p
}
