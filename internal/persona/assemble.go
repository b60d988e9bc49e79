package persona

import (
	"slices"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Snapshot is what a pass over one persona plans from: its bindings, oldest
// first, and the live bindings of other personas (rivals) that list one of
// the numbers in play. The controller and kubectl bland plan both build it
// with Assemble and AddRivals, so the preview plans from what the operator
// would see.
type Snapshot struct {
	Bindings []Binding
	Rivals   []PB
}

// Assemble takes, from candidates, the bindings of persona id that a pass
// plans for (live ones, and deleted ones whose finalizer still holds them),
// oldest first, each with its detach limit (spec.detachLimit, else
// defaultLimit; 0: none).
func Assemble(id string, candidates []PB, defaultLimit int) Snapshot {
	var s Snapshot
	for _, pb := range candidates {
		if pb.Spec.PersonaID != id || (!pb.DeletionTimestamp.IsZero() && !slices.Contains(pb.Finalizers, v1alpha1.Finalizer)) {
			continue
		}
		limit := defaultLimit
		if pb.Spec.DetachLimit != nil {
			limit = int(*pb.Spec.DetachLimit)
		}
		s.Bindings = append(s.Bindings, Binding{Object: pb, DetachLimit: limit})
	}
	slices.SortFunc(s.Bindings, func(a, b Binding) int {
		if OlderThan(a.Object, b.Object) {
			return -1
		}
		return 1
	})
	return s
}

// Listed are the numbers the snapshot's bindings list or hold: a number
// dropped from a spec may be claimed by a binding elsewhere, which decides
// whether it is detached or handed over.
func (s Snapshot) Listed() []string {
	var out []string
	for i := range s.Bindings {
		out = append(out, s.Bindings[i].Object.Spec.InboundNumbers...)
		out = append(out, Held(s.Bindings[i].Object)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// AddRivals adds the live bindings of other personas whose spec lists one
// of numbers: the owner function needs their age, and an exclusive sweep
// leaves alone a number any binding lists. listing(n) returns the bindings
// that may list n (an index may also return those that only hold it). The
// controller adds, after its read, the rivals of every number the persona
// shows attached; a refreshed preview does the same.
func (s *Snapshot) AddRivals(numbers []string, listing func(number string) ([]PB, error)) error {
	seen := map[string]bool{}
	for i := range s.Bindings {
		seen[s.Bindings[i].Key()] = true
	}
	for _, o := range s.Rivals {
		seen[KeyOf(o)] = true
	}
	for _, n := range numbers {
		candidates, err := listing(n)
		if err != nil {
			return err
		}
		for _, o := range candidates {
			k := KeyOf(o)
			if seen[k] || !o.DeletionTimestamp.IsZero() || !slices.Contains(o.Spec.InboundNumbers, n) {
				continue
			}
			seen[k] = true
			s.Rivals = append(s.Rivals, o)
		}
	}
	return nil
}
