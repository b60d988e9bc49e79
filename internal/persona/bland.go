package persona

import "github.com/bland-operator/bland-operator/internal/bland"

// FromBland is a number's overrides as Bland returned them (nil: none).
func FromBland(s *bland.Settings) *Settings {
	if s.IsEmpty() {
		return nil
	}
	out := &Settings{PathwayID: s.PathwayID, StartNodeID: s.StartNodeID}
	if s.PathwayVersion != nil {
		v := *s.PathwayVersion
		out.PathwayVersion = &v
	}
	return out
}

// NumbersOf is what a read of the persona shows attached, with overrides.
func NumbersOf(got *bland.Persona) map[string]*Settings {
	out := make(map[string]*Settings, len(got.InboundNumbers))
	for _, n := range got.InboundNumbers {
		out[n.PhoneNumber] = FromBland(n.PersonaSettings)
	}
	return out
}
