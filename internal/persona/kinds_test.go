package persona

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// agentRival is an AgentBinding's view that lists n2, with a Ready reason
// and, when heldBy is set, n2 in conflict with that older binding.
func agentRival(reason, heldBy string) PB {
	const n = n2
	ab := &v1alpha1.AgentBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "line", Generation: 1, CreationTimestamp: metav1.NewTime(epoch)},
		Spec:       v1alpha1.AgentBindingSpec{AgentID: "agent-1", InboundNumbers: []string{n}},
	}
	ab.Status.ObservedGeneration = 1
	status := metav1.ConditionTrue
	if reason != v1alpha1.ReasonSynced {
		status = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&ab.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, Reason: reason})
	if heldBy != "" {
		ab.Status.Numbers = []v1alpha1.NumberStatus{{Number: n, State: v1alpha1.NumberConflict, Message: "held by older " + heldBy}}
	}
	return AgentView(ab)
}

// A PersonaBinding that drops a number an AgentBinding lists leaves it for
// the agent's attach, unless that binding cannot take it: stalled on its
// agent, or shut out of it by an older exclusive binding. Then the number
// is detached here, as for any number nobody here wants.
func TestANumberDroppedForTheOtherKindWaitsOnlyForABindingThatCanTakeIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rival  PB
		detach bool
	}{
		{"the agent's binding can take it", agentRival(v1alpha1.ReasonSynced, ""), false},
		// Its status still names the giver, which was older: the conflict
		// the handover ends.
		{"the agent's binding was in conflict with this one", agentRival(v1alpha1.ReasonNumberConflict, "PersonaBinding ns/desk"), false},
		{"the agent's binding is stalled on its agent", agentRival(v1alpha1.ReasonAgentNotFound, ""), true},
		{"the agent's binding is shut out of its agent", agentRival(v1alpha1.ReasonNumberConflict, "AgentBinding ns/front"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := bindings(spec{name: "desk", age: 10, numbers: []string{n1}, record: []string{n1, n2}})
			_, p := Decide(bs, []PB{tc.rival}, fresh(n1, n2))
			detached := len(p.Detach) == 1 && p.Detach[0].Number == n2
			if detached != tc.detach || (!tc.detach && len(p.Detach) > 0) {
				t.Fatalf("detaches %+v; want a detach of %s: %v", p.Detach, n2, tc.detach)
			}
		})
	}
}
