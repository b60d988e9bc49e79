package preview

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// A number Bland refused before (its status says NumberNotOwned) is tried
// again after a spec change, in a call of its own, and the plan expects the
// same answer: the binding stays NumberNotOwned, and the new number is
// attached in a call without it.
func TestAPlanExpectsANumberRefusedBeforeToBeRefusedAgain(t *testing.T) {
	a := synced("a", 0, n1)
	a.Spec.InboundNumbers = []string{n1, n2}
	a.Status.Numbers = []v1alpha1.NumberStatus{
		{Number: n1, State: v1alpha1.NumberAttached},
		{Number: n2, State: v1alpha1.NumberNotOwned, Message: "numbers not in this account: " + n2},
	}
	meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonNumberNotOwned, ObservedGeneration: 1, Message: "numbers not in the Bland account: " + n2})
	next := edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1, n2, n3} })
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a}, Proposed: []*v1alpha1.PersonaBinding{next}})
	got := briefly(rep)["a"]
	if want := "+" + n2 + " +" + n3 + " =" + v1alpha1.ReasonNumberNotOwned; got != want {
		t.Errorf("plan %q, want %q", got, want)
	}
	if c := rep.Personas[0].Calls; c != 2 {
		t.Errorf("%d calls planned, want 2 (the new number, then the refused one alone)", c)
	}
}

// Settings given to a number Bland refused before are not planned: the
// operator sets overrides only on a number its attach put in place.
func TestAPlanSetsNothingOnANumberExpectedRefused(t *testing.T) {
	a := synced("a", 0)
	a.Spec.InboundNumbers = []string{n2}
	a.Status.Numbers = []v1alpha1.NumberStatus{{Number: n2, State: v1alpha1.NumberNotOwned, Message: "not in this account"}}
	next := edited(a, func(s *v1alpha1.PersonaBindingSpec) {
		s.NumberSettings = []v1alpha1.NumberSettings{{Number: n2, PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "pw-1"}}}
	})
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a}, Proposed: []*v1alpha1.PersonaBinding{next}})
	b := rep.Personas[0].Bindings[0]
	if len(b.Settings) != 0 || rep.Personas[0].Calls != 1 {
		t.Errorf("planned settings %v and %d calls, want none and 1 (the attach, refused again)", b.Settings, rep.Personas[0].Calls)
	}
}
