package persona

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

const (
	n1, n2, n3, n4 = "+14155550001", "+14155550002", "+14155550003", "+14155550004"
	p1, p2         = "persona-1", "persona-2"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// spec describes a binding for a table row: its age (minutes after the
// epoch), the numbers it lists and holds, and its switches.
type spec struct {
	name, persona                               string
	age                                         int
	numbers, record                             []string
	exclusive, suspend, deleting, orphan, letGo bool
	changed                                     bool // a generation its status has not reported
	limit                                       int
	approved                                    bool
	blocked                                     bool
	refused                                     []string
	want                                        map[string]string // number -> pathway
	applied                                     map[string]string
}

func (s spec) object() *v1alpha1.PersonaBinding {
	pb := &v1alpha1.PersonaBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: s.name, Generation: 2, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(s.age) * time.Minute))},
		Spec:       v1alpha1.PersonaBindingSpec{PersonaID: s.persona, InboundNumbers: s.numbers, Exclusive: s.exclusive, Suspend: s.suspend},
		Status:     v1alpha1.PersonaBindingStatus{ObservedGeneration: 2, BoundNumbers: s.record},
	}
	if pb.Spec.PersonaID == "" {
		pb.Spec.PersonaID = p1
	}
	if s.changed {
		pb.Status.ObservedGeneration = 1
	}
	if s.deleting {
		pb.DeletionTimestamp = &metav1.Time{Time: epoch.Add(time.Hour)}
	}
	if s.orphan {
		pb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	}
	if s.approved {
		pb.Annotations = map[string]string{v1alpha1.ApproveDetachAnnotation: fmt.Sprint(pb.Generation)}
	}
	for n, id := range s.want {
		pb.Spec.NumberSettings = append(pb.Spec.NumberSettings, v1alpha1.NumberSettings{Number: n, PathwaySettings: v1alpha1.PathwaySettings{PathwayID: id}})
	}
	for n, id := range s.applied {
		pb.Status.Numbers = append(pb.Status.Numbers, v1alpha1.NumberStatus{Number: n, State: v1alpha1.NumberAttached, AppliedSettings: &v1alpha1.PathwaySettings{PathwayID: id}})
	}
	return pb
}

func (s spec) binding() Binding {
	b := Binding{Object: s.object(), DetachLimit: s.limit, LetGo: s.letGo, KeyGroup: "k"}
	if s.blocked {
		b.Failure = &Failure{State: Stalled, Reason: v1alpha1.ReasonCredentialsNotFound, Message: "Secret missing", Blocks: true}
	}
	for _, n := range s.refused {
		if b.Refused == nil {
			b.Refused = map[string]Refusal{}
		}
		b.Refused[n] = Refusal{Message: "Bland: not yours", NotOwned: true}
	}
	return b
}

func bindings(specs ...spec) []Binding {
	out := make([]Binding, 0, len(specs))
	for _, s := range specs {
		out = append(out, s.binding())
	}
	return out
}

// fresh is a read of the persona with these numbers attached (no overrides).
func fresh(numbers ...string) Observation {
	o := Observation{Numbers: map[string]*Settings{}, Fresh: true}
	for _, n := range numbers {
		o.Numbers[n] = nil
	}
	return o
}
