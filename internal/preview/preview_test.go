package preview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

const (
	n1, n2, n3, n4 = "+14155550001", "+14155550002", "+14155550003", "+14155550004"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// synced is a binding in sync at generation 1: it lists and holds numbers.
func synced(name string, age int, numbers ...string) v1alpha1.PersonaBinding {
	pb := v1alpha1.PersonaBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute))},
		Spec:       v1alpha1.PersonaBindingSpec{PersonaID: "persona-1", InboundNumbers: numbers},
		Status:     v1alpha1.PersonaBindingStatus{ObservedGeneration: 1, BoundNumbers: numbers},
	}
	meta.SetStatusCondition(&pb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSynced,
		ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(epoch.Add(time.Hour))})
	return pb
}

// edited is the binding as the API server would store a new spec.
func edited(pb v1alpha1.PersonaBinding, change func(*v1alpha1.PersonaBindingSpec)) *v1alpha1.PersonaBinding {
	out := pb.DeepCopy()
	change(&out.Spec)
	out.Generation++
	return out
}

func limit(n int32) *int32 { return &n }

// briefly is what a test compares: the marks per binding and its Ready.
func briefly(rep Report) map[string]string {
	out := map[string]string{}
	for _, p := range rep.Personas {
		for _, b := range p.Bindings {
			var marks []string
			for _, n := range b.Attach {
				marks = append(marks, "+"+n)
			}
			for _, n := range b.Detach {
				marks = append(marks, "-"+n)
			}
			for _, h := range b.HandoverOut {
				marks = append(marks, ">"+h.Number+" "+h.Binding)
			}
			for _, h := range b.HandoverIn {
				marks = append(marks, "<"+h.Number+" "+h.Binding)
			}
			if b.Guard != nil {
				marks = append(marks, "!guard "+strings.Join(b.Guard.Numbers, ","))
			}
			for n, by := range b.Conflicts {
				marks = append(marks, "!conflict "+n+" "+by)
			}
			marks = append(marks, "="+b.Ready.Reason)
			out[b.Name] = strings.Join(marks, " ")
		}
	}
	return out
}

func TestMake(t *testing.T) {
	a, b := synced("a", 0, n1, n2), synced("b", 1, n3)
	tests := []struct {
		name     string
		live     []v1alpha1.PersonaBinding
		proposed []*v1alpha1.PersonaBinding
		want     map[string]string
		exit     int
		calls    int
	}{{
		name:     "an unchanged manifest changes nothing",
		live:     []v1alpha1.PersonaBinding{a},
		proposed: []*v1alpha1.PersonaBinding{a.DeepCopy()},
		want:     map[string]string{"a": "=Synced"},
		exit:     ExitNoChange,
	}, {
		name:     "a number added is attached and one dropped detached: two calls",
		live:     []v1alpha1.PersonaBinding{a},
		proposed: []*v1alpha1.PersonaBinding{edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1, n4} })},
		want:     map[string]string{"a": "+" + n4 + " -" + n2 + " =Synced"},
		exit:     ExitChanges,
		calls:    2,
	}, {
		name: "a number moved between bindings is handed over without a call",
		live: []v1alpha1.PersonaBinding{a, b},
		proposed: []*v1alpha1.PersonaBinding{
			edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1} }),
			edited(b, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n2, n3} }),
		},
		want: map[string]string{"a": ">" + n2 + " team/b =Synced", "b": "<" + n2 + " team/a =Synced"},
		exit: ExitChanges,
	}, {
		name:     "drops past the detach limit wait for an approval of the predicted generation",
		live:     []v1alpha1.PersonaBinding{a},
		proposed: []*v1alpha1.PersonaBinding{edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = nil; s.DetachLimit = limit(1) })},
		want:     map[string]string{"a": "!guard " + n1 + "," + n2 + " =DetachLimitExceeded"},
		exit:     ExitStalls,
	}, {
		name: "a new binding listing a number an older one holds meets a conflict",
		live: []v1alpha1.PersonaBinding{a},
		proposed: []*v1alpha1.PersonaBinding{func() *v1alpha1.PersonaBinding {
			pb := synced("c", 5, n2, n4)
			pb.Status = v1alpha1.PersonaBindingStatus{}
			return &pb
		}()},
		want:  map[string]string{"a": "=Synced", "c": "+" + n4 + " !conflict " + n2 + " team/a =NumberConflict"},
		exit:  ExitStalls,
		calls: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Make(Input{Live: tt.live, Proposed: tt.proposed, Now: epoch.Add(2 * time.Hour)})
			if diff := cmp.Diff(tt.want, briefly(rep)); diff != "" {
				t.Errorf("marks (-want +got):\n%s", diff)
			}
			if got := rep.ExitCode(); got != tt.exit {
				t.Errorf("exit %d, want %d", got, tt.exit)
			}
			if rep.Summary.Calls != tt.calls {
				t.Errorf("%d Bland calls, want %d", rep.Summary.Calls, tt.calls)
			}
		})
	}
}

// The approval the guard prints names the generation the edit will have, so
// that it can go in the same commit.
func TestTheGuardNamesThePredictedGeneration(t *testing.T) {
	a := synced("a", 0, n1, n2)
	next := edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = nil; s.DetachLimit = limit(1) })
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a}, Proposed: []*v1alpha1.PersonaBinding{next}})
	g := rep.Personas[0].Bindings[0].Guard
	if g == nil || !strings.HasSuffix(g.Approval, v1alpha1.ApproveDetachAnnotation+"="+persona.ApprovalFor(2, []string{n1, n2})+" --overwrite") {
		t.Fatalf("guard %+v does not approve generation 2 and exactly %s, %s", g, n1, n2)
	}
}

func TestTheTextAndJSONForms(t *testing.T) {
	a := synced("a", 0, n1, n2)
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a}, Proposed: []*v1alpha1.PersonaBinding{
		edited(a, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1, n4} }),
	}, Now: epoch.Add(2 * time.Hour)})
	var text bytes.Buffer
	if err := WriteText(&text, rep, TextOptions{Now: epoch.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+ attach " + n4, "- detach " + n2, "last recorded 1h0m0s ago",
		"Plan: 1 bindings to change, 1 to attach, 1 to detach, 0 settings, 0 handovers; 2 Bland calls."} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "\x1b[") {
		t.Error("colour without asking for it")
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil || back["formatVersion"] != FormatVersion {
		t.Fatalf("formatVersion %v (%v)", back["formatVersion"], err)
	}
}
