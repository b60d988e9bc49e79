package preview

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// A change to the spec that moves no number is still a change: it is
// shown, and the plan exits 3.
func TestSpecOnlyChangesAreShown(t *testing.T) {
	a := synced("a", 0, n1)
	tests := []struct {
		name   string
		live   v1alpha1.PersonaBinding
		change func(*v1alpha1.PersonaBindingSpec)
		want   []string
	}{{
		name:   "deletion policy",
		live:   a,
		change: func(s *v1alpha1.PersonaBindingSpec) { s.DeletionPolicy = v1alpha1.DeletionPolicyOrphan },
		want:   []string{"~ spec.deletionPolicy Detach -> Orphan"},
	}, {
		name:   "resync interval",
		live:   a,
		change: func(s *v1alpha1.PersonaBindingSpec) { s.ResyncInterval = &metav1.Duration{Duration: time.Hour} },
		want:   []string{"~ spec.resyncInterval (default) -> 1h0m0s"},
	}, {
		name: "resuming shows what it attaches",
		live: func() v1alpha1.PersonaBinding {
			pb := synced("s", 0, n1, n2)
			pb.Spec.Suspend, pb.Status.BoundNumbers = true, []string{n1}
			return pb
		}(),
		change: func(s *v1alpha1.PersonaBindingSpec) { s.Suspend = false },
		want:   []string{"~ spec.suspend true -> false", "+ attach " + n2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Make(Input{Live: []v1alpha1.PersonaBinding{tt.live}, Proposed: []*v1alpha1.PersonaBinding{edited(tt.live, tt.change)}, Now: epoch.Add(2 * time.Hour)})
			if got := rep.ExitCode(); got != ExitChanges {
				t.Errorf("exit %d, want %d", got, ExitChanges)
			}
			var text strings.Builder
			if err := WriteText(&text, rep, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text lacks %q:\n%s", want, text.String())
				}
			}
		})
	}
}

// A refreshed plan that found the persona missing in Bland predicts what
// the operator would say, and plans the other personas.
func TestAPersonaBlandDoesNotKnowStalls(t *testing.T) {
	a := synced("a", 0, n1)
	b := synced("b", 1, n2)
	b.Spec.PersonaID = "persona-2"
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a, b},
		Proposed: []*v1alpha1.PersonaBinding{edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1, n3} }), edited(b, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n2, n4} })},
		NotFound: map[string]bool{"persona-1": true}, Now: epoch.Add(2 * time.Hour)})
	got := briefly(rep)
	if got["a"] != "=PersonaNotFound" || got["b"] != "+"+n4+" =Synced" {
		t.Errorf("marks %v: want a stalled on PersonaNotFound with no call, b planned", got)
	}
	if rep.ExitCode() != ExitStalls {
		t.Errorf("exit %d, want %d", rep.ExitCode(), ExitStalls)
	}
}

// A binding the input deletes (--prune) detaches what it holds, hands a
// number another binding lists to it, and under Orphan leaves its numbers.
func TestADeletionIsPlanned(t *testing.T) {
	a, b := synced("a", 0, n1, n2), synced("b", 1, n3)
	b.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	c := stalledOnConflict("c", 5, n1)
	gone := func(pb v1alpha1.PersonaBinding) *v1alpha1.PersonaBinding {
		out := pb.DeepCopy()
		out.DeletionTimestamp = &metav1.Time{Time: epoch.Add(2 * time.Hour)}
		out.Finalizers = []string{v1alpha1.Finalizer}
		return out
	}
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a, b, c}, Proposed: []*v1alpha1.PersonaBinding{gone(a), gone(b)}, Now: epoch.Add(2 * time.Hour)})
	got := briefly(rep)
	if !strings.HasPrefix(got["a"], "-"+n2+" >"+n1+" other-team/c") || strings.Contains(got["b"], "-") {
		t.Errorf("marks %v: want a to detach %s and hand %s to c, b (Orphan) to detach nothing", got, n2, n1)
	}
	deleted := 0
	for _, br := range rep.Personas[0].Bindings {
		if br.Deleted {
			deleted++
		}
	}
	if deleted != 2 || rep.ExitCode() != ExitChanges {
		t.Errorf("%d bindings marked deleted (want 2), exit %d", deleted, rep.ExitCode())
	}
}

// A refreshed plan assembles the persona as the operator does after its
// read: a number attached to it that only another persona's binding lists
// is that binding's, and an exclusive sweep leaves it alone.
func TestARefreshedSweepLeavesAloneANumberAnotherPersonaLists(t *testing.T) {
	a := synced("a", 0, n1)
	a.Spec.Exclusive = true
	x := synced("x", 5, n2)
	x.Namespace, x.Spec.PersonaID = "other-team", "persona-2"
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a, x}, Proposed: []*v1alpha1.PersonaBinding{a.DeepCopy()},
		Observed: map[string]map[string]*persona.Settings{"persona-1": {n1: nil, n2: nil}}, Now: epoch.Add(2 * time.Hour)})
	for _, p := range rep.Personas {
		if p.ID == "persona-1" && p.Calls != 0 {
			t.Errorf("persona-1: %d calls predicted, want none: %v", p.Calls, briefly(rep))
		}
	}
	if got := briefly(rep)["a"]; strings.Contains(got, "-"+n2) {
		t.Errorf("a sweep of %s predicted, which the operator never makes: %s", n2, got)
	}
}
