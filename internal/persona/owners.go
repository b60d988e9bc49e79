package persona

import (
	"slices"
	"strconv"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Owners is who holds what on the persona.
type Owners struct {
	// Holder names, for each number, the binding of this persona that holds
	// it: the oldest live binding anywhere that lists it, when that binding
	// is on this persona and can hold it now.
	Holder map[string]string
	// Conflicts maps a binding to the numbers an older binding claims, each
	// with that binding's namespace/name. The younger binding leaves them alone.
	Conflicts map[string]map[string]string
	// Lost marks bindings shut out of the persona: an older binding shares
	// it and one of the two is exclusive.
	Lost map[string]bool
	// Claimant is, for each number a live binding lists, the oldest of them,
	// here or elsewhere.
	Claimant map[string]PB
}

// OwnersOf is the owner function: a pure function of the persona's bindings
// and the live bindings of other personas that list one of their numbers
// (rivals). Age alone decides a contest, so the outcome never flips with the
// state of either side: the oldest live binding that lists a number claims
// it; it holds it when it can (not suspended, not shut out, not blocked, the
// number not refused); younger ones report a conflict.
func OwnersOf(bindings []Binding, rivals []PB) Owners {
	o := Owners{Holder: map[string]string{}, Conflicts: map[string]map[string]string{}, Lost: map[string]bool{}}
	var live []*Binding
	for i := range bindings {
		if bindings[i].live() {
			live = append(live, &bindings[i])
		}
	}
	slices.SortFunc(live, func(a, b *Binding) int { return byAge(a.Object, b.Object) })

	lostTo := map[string]string{}
	for i, b := range live {
		for _, older := range live[:i] {
			if older.Object.Spec.Exclusive || b.Object.Spec.Exclusive {
				lostTo[b.Key()] = older.Key()
				o.Lost[b.Key()] = true
				break
			}
		}
	}

	claimant := map[string]*v1alpha1.PersonaBinding{}
	claim := func(pb *v1alpha1.PersonaBinding) {
		for _, n := range pb.Spec.InboundNumbers {
			if c, ok := claimant[n]; !ok || OlderThan(pb, c) {
				claimant[n] = pb
			}
		}
	}
	for _, b := range live {
		claim(b.Object)
	}
	for _, r := range rivals {
		if r.DeletionTimestamp.IsZero() {
			claim(r)
		}
	}
	o.Claimant = claimant

	for _, b := range live {
		key := b.Key()
		for _, n := range b.Object.Spec.InboundNumbers {
			holder := lostTo[key]
			if c := claimant[n]; c != b.Object {
				holder = KeyOf(c)
			}
			if holder == "" {
				if !b.suspended() && !o.Lost[key] && !b.Blocked() && !refused(b, n) {
					o.Holder[n] = key
				}
				continue
			}
			if o.Conflicts[key] == nil {
				o.Conflicts[key] = map[string]string{}
			}
			o.Conflicts[key][n] = holder
		}
	}
	return o
}

// claims reports whether b is the claimant of n: it lists n and no older
// binding contests it.
func (o Owners) claims(b *Binding, n string) bool {
	return b.live() && slices.Contains(b.Object.Spec.InboundNumbers, n) && o.Conflicts[b.Key()][n] == ""
}

func byAge(a, b *v1alpha1.PersonaBinding) int {
	switch {
	case OlderThan(a, b):
		return -1
	case OlderThan(b, a):
		return 1
	}
	return 0
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
