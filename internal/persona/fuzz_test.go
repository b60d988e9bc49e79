package persona

import (
	"fmt"
	"slices"
	"testing"
)

// FuzzDecide draws three bindings of one persona (lists, records, switches),
// a binding of another persona that may list the same numbers, and an
// observation from the fuzz input, and checks the plan's promises: nothing a
// binding holds or claims is detached, nothing unheld is attached, no
// attached number leaves every record without a call (but by an orphaning
// deletion), no number ends in two records, and a second pass over the
// outcome has nothing to do.
func FuzzDecide(f *testing.F) {
	f.Add(uint64(0x0f0f), uint64(0x00ff), uint64(0xf0), uint16(0x1))
	f.Add(uint64(0xffffff), uint64(0xff00ff), uint64(0xffff), uint16(0x2a))
	f.Add(uint64(0), uint64(0xffffff), uint64(0xff), uint16(0x1ff))
	f.Fuzz(func(t *testing.T, lists, records, attached uint64, flags uint16) {
		number := func(i int) string { return fmt.Sprintf("+1415555%04d", i) }
		var specs []spec
		for b := range 3 {
			s := spec{name: string(rune('a' + b)), age: b}
			for i := range 8 {
				if lists&(1<<(b*8+i)) != 0 {
					s.numbers = append(s.numbers, number(i))
				}
				if records&(1<<(b*8+i)) != 0 {
					s.record = append(s.record, number(i))
				}
			}
			bit := func(k int) bool { return flags&(1<<(b*4+k)) != 0 }
			s.exclusive, s.suspend, s.deleting, s.blocked = bit(0), bit(1), bit(2), bit(3)
			specs = append(specs, s)
		}
		// Records do not overlap in a real cluster: the first wins here.
		seen := map[string]bool{}
		for i := range specs {
			specs[i].record = slices.DeleteFunc(specs[i].record, func(n string) bool { d := seen[n]; seen[n] = true; return d })
		}
		obs := fresh()
		for i := range 8 {
			if attached&(1<<i) != 0 || seen[number(i)] {
				obs.Numbers[number(i)] = nil
			}
		}
		var rivals []PB
		if flags&(1<<12) != 0 {
			r := spec{name: "r", persona: p2, age: 3, record: nil}
			if flags&(1<<13) != 0 {
				r.age = -1 // older than every binding here
			}
			for i := range 8 {
				if lists&(1<<(24+i)) != 0 {
					r.numbers = append(r.numbers, number(i))
					if flags&(1<<14) != 0 {
						r.record = append(r.record, number(i))
					}
				}
			}
			rivals = append(rivals, r.object())
		}
		bs := bindings(specs...)
		owners, p := Decide(bs, rivals, obs)
		for _, m := range p.Detach {
			if owners.Holder[m.Number] != "" {
				t.Fatalf("plan detaches %s, which %s holds", m.Number, owners.Holder[m.Number])
			}
		}
		for _, m := range p.Detach {
			for i := range bs {
				if !bs[i].suspended() && owners.claims(&bs[i], m.Number) {
					t.Fatalf("plan detaches %s, which live binding %s claims", m.Number, bs[i].Key())
				}
			}
		}
		claimed := map[string]bool{}
		for _, ns := range p.Claims {
			for _, n := range ns {
				claimed[n] = true
			}
		}
		for i := range bs {
			if !bs[i].live() && bs[i].suspended() {
				continue // a suspended binding deleted lets go on purpose
			}
			for _, n := range p.Releases[bs[i].Key()] {
				if obs.Has(n) && !claimed[n] {
					t.Fatalf("%s lets go of %s, still attached, and no record takes it", bs[i].Key(), n)
				}
			}
		}
		for _, m := range p.Attach {
			if owners.Holder[m.Number] != m.Binding {
				t.Fatalf("plan attaches %s for %s, which does not hold it", m.Number, m.Binding)
			}
		}
		after := obs.Clone()
		for _, m := range p.Detach {
			delete(after.Numbers, m.Number)
		}
		for _, m := range p.Attach {
			after.Numbers[m.Number] = nil
		}
		owner := map[string]string{}
		var next []spec
		for i := range bs {
			rec := RecordAfter(&bs[i], p, after)
			for _, n := range rec {
				if o := owner[n]; o != "" {
					t.Fatalf("%s is in the records of both %s and %s", n, o, bs[i].Key())
				}
				owner[n] = bs[i].Key()
			}
			if !specs[i].deleting || len(rec) > 0 {
				s := specs[i]
				s.record = rec
				next = append(next, s)
			}
		}
		_, again := Decide(bindings(next...), rivals, after)
		if again.Writes() || len(again.Handovers) > 0 {
			t.Fatalf("a second pass still has work: %+v (first %+v)", again, p)
		}
	})
}
