// Package plan decides what to change in Bland for one PersonaBinding. It is pure:
// the desired set, the ownership record and what is known to be attached go in,
// the calls to make come out. All the rules that protect numbers live here.
package plan

import (
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// Input is everything the plan depends on.
type Input struct {
	// Desired are the numbers the spec lists. A desired number is never detached.
	Desired []string
	// Conflicted are desired numbers an older binding holds; they are left alone.
	Conflicted map[string]bool
	// Want are the per-number overrides the spec asks for.
	Want map[string]*bland.Settings
	// Bound is the ownership record: numbers this binding attached.
	Bound []string
	// Applied are the overrides this binding set earlier.
	Applied map[string]*bland.Settings
	// Observed are the numbers known to be attached, with their settings.
	Observed map[string]*bland.Settings
	// Complete says Observed is a fresh read of the whole persona, rather than
	// this binding's own record of it.
	Complete bool
	// Exclusive also detaches attached numbers that nobody wants.
	Exclusive bool
	// Protected are numbers other bindings list; exclusive mode leaves them alone.
	Protected map[string]bool
}

// SettingsChange sets one number's overrides; nil Settings clears them.
type SettingsChange struct {
	Number   string
	Settings *bland.Settings
}

// Plan is the calls to make: one detach, one attach, then the settings.
type Plan struct {
	Detach   []string
	Attach   []string
	Settings []SettingsChange
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Detach) == 0 && len(p.Attach) == 0 && len(p.Settings) == 0
}

// Compute works out the plan. Every list in it is sorted.
func Compute(in Input) Plan {
	desired := sets.New(in.Desired...)
	var p Plan

	detach := sets.New[string]()
	for _, n := range in.Bound {
		_, attached := in.Observed[n]
		if !desired.Has(n) && (attached || !in.Complete) {
			detach.Insert(n)
		}
	}
	if in.Exclusive && in.Complete {
		for n := range in.Observed {
			if !desired.Has(n) && !in.Protected[n] {
				detach.Insert(n)
			}
		}
	}
	if detach.Len() > 0 {
		p.Detach = sets.List(detach)
	}

	for _, n := range sets.List(desired) {
		if in.Conflicted[n] {
			continue
		}
		current, attached := in.Observed[n]
		if !attached {
			p.Attach = append(p.Attach, n)
			current = nil // a fresh attach starts without overrides
		}
		want := in.Want[n]
		switch {
		case !want.IsEmpty():
			if !attached || !want.Equal(current) {
				p.Settings = append(p.Settings, SettingsChange{Number: n, Settings: want})
			}
		case !in.Applied[n].IsEmpty() && attached && !current.IsEmpty():
			// An override this binding set was dropped from the spec: clear it.
			p.Settings = append(p.Settings, SettingsChange{Number: n})
		}
	}
	return p
}
