package plan

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// FuzzCompute draws desired, bound, observed and conflicted sets from the fuzz
// input and checks the plan's promises: no desired number is detached, no
// undesired number is attached, and applying the plan reaches the spec.
func FuzzCompute(f *testing.F) {
	f.Add(uint64(0b1011), uint64(0b0110), uint64(0b1100), uint64(0), uint64(0b0001), false, true)
	f.Add(uint64(0xff), uint64(0xf0f0), uint64(0x0ff0), uint64(0x3), uint64(0x81), true, true)
	f.Add(uint64(0), uint64(0xffff), uint64(0xffff), uint64(0), uint64(0), true, false)
	f.Fuzz(func(t *testing.T, desiredBits, boundBits, observedBits, conflictBits, settingsBits uint64, exclusive, complete bool) {
		number := func(i int) string { return fmt.Sprintf("+1415555%04d", i) }
		in := Input{Conflicted: map[string]bool{}, Want: map[string]*bland.Settings{}, Observed: map[string]*bland.Settings{}, Exclusive: exclusive, Complete: complete}
		for i := range 16 {
			n, bit := number(i), uint64(1)<<i
			if desiredBits&bit != 0 {
				in.Desired = append(in.Desired, n)
				if conflictBits&bit != 0 {
					in.Conflicted[n] = true
				}
				if settingsBits&bit != 0 {
					in.Want[n] = &bland.Settings{PathwayID: "p"}
				}
			}
			if boundBits&bit != 0 {
				in.Bound = append(in.Bound, n)
			}
			if observedBits&bit != 0 || (!complete && boundBits&bit != 0) {
				in.Observed[n] = nil
			}
		}
		p := Compute(in)
		for _, n := range p.Detach {
			if slices.Contains(in.Desired, n) {
				t.Fatalf("plan detaches desired number %s", n)
			}
		}
		for _, n := range p.Attach {
			if !slices.Contains(in.Desired, n) || in.Conflicted[n] {
				t.Fatalf("plan attaches %s, which is not desired or is conflicted", n)
			}
		}
		// Apply the plan and plan again: nothing may be left to do.
		after := Input{Desired: in.Desired, Conflicted: in.Conflicted, Want: in.Want, Exclusive: exclusive, Complete: true,
			Observed: map[string]*bland.Settings{}}
		for n, s := range in.Observed {
			after.Observed[n] = s
		}
		for _, n := range p.Detach {
			delete(after.Observed, n)
		}
		for _, n := range p.Attach {
			after.Observed[n] = nil
		}
		for _, c := range p.Settings {
			after.Observed[c.Number] = c.Settings
		}
		for n := range after.Observed {
			if slices.Contains(in.Desired, n) && !in.Conflicted[n] {
				after.Bound = append(after.Bound, n)
			}
		}
		if again := Compute(after); len(again.Attach) > 0 || len(again.Settings) > 0 {
			t.Fatalf("plan did not converge: after %+v, still %+v", p, again)
		}
	})
}
