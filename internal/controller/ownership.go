package controller

import (
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// ownership is a binding's record of the numbers it holds on its persona
// (status.boundNumbers). Sync and deletion change it only through these
// methods, and the finalizer follows it: a Detach binding that owns a number
// carries the finalizer.
type ownership struct {
	numbers sets.Set[string]
}

func ownershipOf(st *v1alpha1.PersonaBindingStatus) ownership {
	return ownership{numbers: sets.New(st.BoundNumbers...)}
}

// claim records numbers as held, before they are attached (the intent).
func (o ownership) claim(numbers ...string) { o.numbers.Insert(numbers...) }

// release forgets numbers: detached, or handed over to another binding.
func (o ownership) release(numbers ...string) { o.numbers.Delete(numbers...) }

// owns reports whether the number is held.
func (o ownership) owns(n string) bool { return o.numbers.Has(n) }

// settle brings the record in line with a complete observation of the
// persona: a held number that is no longer attached is no longer held, and an
// attached number the binding may hold is adopted, however it got there.
func (o ownership) settle(obs observation, mayHold func(string) bool) {
	for n := range o.numbers {
		if _, attached := obs.numbers[n]; !attached {
			o.numbers.Delete(n)
		}
	}
	for n := range obs.numbers {
		if mayHold(n) {
			o.numbers.Insert(n)
		}
	}
}

// list returns the numbers sorted, or nil when none.
func (o ownership) list() []string {
	if o.numbers.Len() == 0 {
		return nil
	}
	return sets.List(o.numbers)
}

// needsFinalizer reports whether deleting the binding must detach something.
func (o ownership) needsFinalizer(pb *v1alpha1.PersonaBinding) bool {
	return pb.Spec.DeletionPolicy != v1alpha1.DeletionPolicyOrphan && o.numbers.Len() > 0
}
