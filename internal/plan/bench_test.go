package plan

import (
	"fmt"
	"testing"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// BenchmarkCompute plans a 500-number binding (the schema's maximum) in sync
// but for one dropped and one added number.
func BenchmarkCompute(b *testing.B) {
	in := Input{Observed: map[string]*bland.Settings{}, Want: map[string]*bland.Settings{}, Applied: map[string]*bland.Settings{}}
	for i := range 500 {
		n := fmt.Sprintf("+1415555%04d", i)
		if i > 0 {
			in.Desired = append(in.Desired, n)
		}
		in.Bound = append(in.Bound, n)
		in.Observed[n] = nil
		if i%10 == 0 {
			in.Want[n] = &bland.Settings{PathwayID: "p"}
			in.Applied[n] = in.Want[n]
			in.Observed[n] = in.Want[n]
		}
	}
	in.Desired = append(in.Desired, "+14155559999")
	b.ReportAllocs()
	for b.Loop() {
		p := Compute(in)
		if len(p.Attach) != 1 || len(p.Detach) != 1 {
			b.Fatalf("unexpected plan %+v", p)
		}
	}
}
