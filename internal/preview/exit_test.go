package preview

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// stalledOnConflict is a binding in another namespace, younger than the
// holder of its numbers, whose status already says so.
func stalledOnConflict(name string, age int, numbers ...string) v1alpha1.PersonaBinding {
	pb := synced(name, age, numbers...)
	pb.Namespace = "other-team"
	pb.Status.BoundNumbers = nil
	meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonNumberConflict, ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(epoch.Add(time.Hour))})
	meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonNumberConflict, ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(epoch.Add(time.Hour))})
	return pb
}

// Exit 4 is about the change: a binding outside the input that stalls the
// same way without it is context, never the reason for the status.
func TestExitFourIsAboutTheChange(t *testing.T) {
	a := synced("a", 0, n1, n2)
	x, y := stalledOnConflict("x", 5, n1), stalledOnConflict("y", 6, n1)
	tests := []struct {
		name           string
		live           []v1alpha1.PersonaBinding
		proposed       []*v1alpha1.PersonaBinding
		exit           int
		alreadyStalled []string
	}{{
		name:           "dropping a number beside bindings stalled elsewhere changes, and stalls nothing",
		live:           []v1alpha1.PersonaBinding{a, x, y},
		proposed:       []*v1alpha1.PersonaBinding{edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1} })},
		exit:           ExitChanges,
		alreadyStalled: []string{"x", "y"},
	}, {
		name:     "an unchanged manifest beside a stalled binding changes nothing",
		live:     []v1alpha1.PersonaBinding{a, x},
		proposed: []*v1alpha1.PersonaBinding{a.DeepCopy()},
		exit:     ExitNoChange,
		// x is context all the same.
		alreadyStalled: []string{"x"},
	}, {
		name:     "a change that makes an outside binding stall is the change's",
		live:     []v1alpha1.PersonaBinding{synced("a", 0, n1), synced("b", 1, n2)},
		proposed: []*v1alpha1.PersonaBinding{edited(synced("a", 0, n1), func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1, n2} })},
		exit:     ExitStalls,
	}, {
		name: "a stalled binding in the input counts, even unchanged",
		live: []v1alpha1.PersonaBinding{a, x},
		proposed: []*v1alpha1.PersonaBinding{
			edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1} }),
			func() *v1alpha1.PersonaBinding { c := x.DeepCopy(); return c }(),
		},
		exit: ExitStalls,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Make(Input{Live: tt.live, Proposed: tt.proposed, Now: epoch.Add(2 * time.Hour)})
			if got := rep.ExitCode(); got != tt.exit {
				t.Errorf("exit %d, want %d: %v", got, tt.exit, briefly(rep))
			}
			var got []string
			for _, p := range rep.Personas {
				for _, b := range p.Bindings {
					if b.AlreadyStalled {
						got = append(got, b.Name)
					}
				}
			}
			if len(got) != len(tt.alreadyStalled) || rep.Summary.AlreadyStalled != len(tt.alreadyStalled) {
				t.Errorf("already stalled %v (summary %d), want %v", got, rep.Summary.AlreadyStalled, tt.alreadyStalled)
			}
		})
	}
}

// The text form shows such a binding as context, in its line and in the
// summary.
func TestAnAlreadyStalledBindingIsShownAsContext(t *testing.T) {
	a, x := synced("a", 0, n1, n2), stalledOnConflict("x", 5, n1)
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a, x}, Proposed: []*v1alpha1.PersonaBinding{
		edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1} }),
	}, Now: epoch.Add(2 * time.Hour)})
	var text strings.Builder
	if err := WriteText(&text, rep, TextOptions{ShowUnchanged: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"other-team/x (already stalled, unchanged by this plan, generation 1)", "; 1 already stalled, unchanged by this plan."} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "would stall") {
		t.Errorf("text pins a stall on the change:\n%s", text.String())
	}
}
