package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bland-operator/bland-operator/internal/bland"
)

func pathway(id string) *bland.Settings { return &bland.Settings{PathwayID: id} }

func attached(numbers ...string) map[string]*bland.Settings {
	out := map[string]*bland.Settings{}
	for _, n := range numbers {
		out[n] = nil
	}
	return out
}

func TestCompute(t *testing.T) {
	const a, b, c, d = "+14155550001", "+14155550002", "+14155550003", "+14155550004"
	tests := []struct {
		name string
		in   Input
		want Plan
	}{{
		name: "a new binding attaches every desired number",
		in:   Input{Desired: []string{b, a}, Observed: attached()},
		want: Plan{Attach: []string{a, b}},
	}, {
		name: "a binding in sync plans nothing",
		in:   Input{Desired: []string{a, b}, Bound: []string{a, b}, Observed: attached(a, b)},
		want: Plan{},
	}, {
		name: "a number dropped from the spec is detached",
		in:   Input{Desired: []string{a}, Bound: []string{a, b}, Observed: attached(a, b)},
		want: Plan{Detach: []string{b}},
	}, {
		name: "add one and drop one gives one attach and one detach",
		in:   Input{Desired: []string{a, c}, Bound: []string{a, b}, Observed: attached(a, b)},
		want: Plan{Detach: []string{b}, Attach: []string{c}},
	}, {
		name: "a number attached out of band is left alone",
		in:   Input{Desired: []string{a}, Bound: []string{a}, Observed: attached(a, d), Complete: true},
		want: Plan{},
	}, {
		name: "exclusive detaches a number attached out of band",
		in:   Input{Desired: []string{a}, Bound: []string{a}, Observed: attached(a, d), Complete: true, Exclusive: true},
		want: Plan{Detach: []string{d}},
	}, {
		name: "exclusive leaves alone a number another binding lists",
		in: Input{Desired: []string{a}, Bound: []string{a}, Observed: attached(a, d), Complete: true, Exclusive: true,
			Protected: map[string]bool{d: true}},
		want: Plan{},
	}, {
		name: "exclusive without a full read detaches only bound numbers",
		in:   Input{Desired: []string{a}, Bound: []string{a, b}, Observed: attached(a, b), Exclusive: true},
		want: Plan{Detach: []string{b}},
	}, {
		name: "a bound number that already left the persona is not detached again",
		in:   Input{Desired: []string{a}, Bound: []string{a, b}, Observed: attached(a), Complete: true},
		want: Plan{},
	}, {
		name: "a conflicted number is neither attached nor detached",
		in: Input{Desired: []string{a, b}, Bound: []string{b}, Observed: attached(), Complete: true,
			Conflicted: map[string]bool{a: true, b: true}},
		want: Plan{},
	}, {
		name: "settings are applied to a number just attached",
		in:   Input{Desired: []string{a}, Want: map[string]*bland.Settings{a: pathway("p1")}, Observed: attached()},
		want: Plan{Attach: []string{a}, Settings: []SettingsChange{{Number: a, Settings: pathway("p1")}}},
	}, {
		name: "settings that differ from the persona are re-applied",
		in: Input{Desired: []string{a}, Bound: []string{a}, Want: map[string]*bland.Settings{a: pathway("p2")},
			Observed: map[string]*bland.Settings{a: pathway("p1")}},
		want: Plan{Settings: []SettingsChange{{Number: a, Settings: pathway("p2")}}},
	}, {
		name: "settings that match the persona cost nothing",
		in: Input{Desired: []string{a}, Bound: []string{a}, Want: map[string]*bland.Settings{a: pathway("p1")},
			Observed: map[string]*bland.Settings{a: pathway("p1")}},
		want: Plan{},
	}, {
		name: "an override removed from the spec is cleared",
		in: Input{Desired: []string{a}, Bound: []string{a}, Applied: map[string]*bland.Settings{a: pathway("p1")},
			Observed: map[string]*bland.Settings{a: pathway("p1")}},
		want: Plan{Settings: []SettingsChange{{Number: a}}},
	}, {
		name: "an override this binding never set is left alone",
		in:   Input{Desired: []string{a}, Bound: []string{a}, Observed: map[string]*bland.Settings{a: pathway("theirs")}, Complete: true},
		want: Plan{},
	}, {
		name: "an empty desired list detaches everything bound",
		in:   Input{Desired: nil, Bound: []string{a, b}, Observed: attached(a, b)},
		want: Plan{Detach: []string{a, b}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.in)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
