package controller

import (
	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
)

// observation is what is known about the persona: the numbers attached and
// their settings. complete means it came from Bland, not from our own record.
type observation struct {
	name     string
	numbers  map[string]*bland.Settings
	complete bool
}

// observe records a persona returned by any call as the new observation.
func (o *observation) observe(p *bland.Persona) {
	o.name = p.Name
	o.numbers = make(map[string]*bland.Settings, len(p.InboundNumbers))
	for _, n := range p.InboundNumbers {
		o.numbers[n.PhoneNumber] = n.PersonaSettings
	}
	o.complete = true
}

// clone returns a copy that later observations do not change.
func (o observation) clone() observation {
	c := o
	c.numbers = make(map[string]*bland.Settings, len(o.numbers))
	for n, s := range o.numbers {
		c.numbers[n] = s
	}
	return c
}

// fromRecord rebuilds the observation from status: the bound numbers, with the
// settings this binding applied. Planning from it lets a spec change cost only
// the calls that change something, with no read first.
func fromRecord(st *v1alpha1.PersonaBindingStatus) observation {
	o := observation{name: st.PersonaName, numbers: map[string]*bland.Settings{}}
	applied := appliedSettings(st)
	for _, n := range st.BoundNumbers {
		o.numbers[n] = applied[n]
	}
	return o
}

// appliedSettings returns the overrides this binding set, by number.
func appliedSettings(st *v1alpha1.PersonaBindingStatus) map[string]*bland.Settings {
	out := map[string]*bland.Settings{}
	for _, n := range st.Numbers {
		if n.AppliedSettings != nil {
			out[n.Number] = toBland(n.AppliedSettings)
		}
	}
	return out
}

// wantedSettings returns the overrides the spec asks for, by number.
func wantedSettings(spec *v1alpha1.PersonaBindingSpec) map[string]*bland.Settings {
	out := map[string]*bland.Settings{}
	for i := range spec.NumberSettings {
		s := spec.NumberSettings[i]
		out[s.Number] = toBland(&s.PathwaySettings)
	}
	return out
}

func toBland(s *v1alpha1.PathwaySettings) *bland.Settings {
	if s == nil {
		return nil
	}
	out := &bland.Settings{PathwayID: s.PathwayID, StartNodeID: s.StartNodeID}
	if s.PathwayVersion != nil {
		v := *s.PathwayVersion
		out.PathwayVersion = &v
	}
	return out
}

func fromBland(s *bland.Settings) *v1alpha1.PathwaySettings {
	if s.IsEmpty() {
		return nil
	}
	out := &v1alpha1.PathwaySettings{PathwayID: s.PathwayID, StartNodeID: s.StartNodeID}
	if s.PathwayVersion != nil {
		v := *s.PathwayVersion
		out.PathwayVersion = &v
	}
	return out
}
