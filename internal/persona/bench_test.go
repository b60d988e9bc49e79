package persona

import (
	"fmt"
	"testing"
)

// BenchmarkDecide plans a persona shared by ten bindings of 50 numbers each
// (500, the most one binding may list), in sync but for one binding that
// dropped a number and added another.
func BenchmarkDecide(b *testing.B) {
	var specs []spec
	obs := fresh()
	for k := range 10 {
		s := spec{name: fmt.Sprintf("b%02d", k), age: k}
		for i := range 50 {
			n := fmt.Sprintf("+1415%03d%04d", k, i)
			obs.Numbers[n] = nil
			s.record = append(s.record, n)
			if k != 0 || i > 0 {
				s.numbers = append(s.numbers, n)
			}
		}
		specs = append(specs, s)
	}
	specs[0].numbers = append(specs[0].numbers, "+14159999999")
	bs := bindings(specs...)
	b.ReportAllocs()
	for b.Loop() {
		_, p := Decide(bs, nil, obs)
		if len(p.Attach) != 1 || len(p.Detach) != 1 {
			b.Fatalf("unexpected plan %+v", p)
		}
	}
}
