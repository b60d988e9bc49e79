// Package bland is a small typed client for the part of the Bland AI persona API
// the operator uses: read a persona, attach and detach inbound numbers, and set
// per-number settings. Every failure comes back as an *Error with a Kind the
// reconciler can act on.
package bland

// Persona is the part of a Bland persona the operator reads. Unknown fields in
// responses are ignored, since the API adds fields over time.
type Persona struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	InboundNumbers []InboundNumber `json:"inbound_numbers"`
}

// InboundNumber is one number attached to a persona.
type InboundNumber struct {
	PhoneNumber     string    `json:"phone_number"`
	PersonaID       string    `json:"persona_id,omitempty"`
	PersonaSettings *Settings `json:"persona_settings"`
}

// Settings are the per-number overrides of a persona. A nil *Settings means the
// number uses the persona's defaults.
type Settings struct {
	PathwayID      string `json:"pathway_id,omitempty"`
	PathwayVersion *int64 `json:"pathway_version,omitempty"`
	StartNodeID    string `json:"start_node_id,omitempty"`
}

// Equal reports whether two settings say the same thing; nil equals only nil or
// an empty value.
func (s *Settings) Equal(o *Settings) bool {
	if s.IsEmpty() || o.IsEmpty() {
		return s.IsEmpty() && o.IsEmpty()
	}
	if s.PathwayID != o.PathwayID || s.StartNodeID != o.StartNodeID {
		return false
	}
	if (s.PathwayVersion == nil) != (o.PathwayVersion == nil) {
		return false
	}
	return s.PathwayVersion == nil || *s.PathwayVersion == *o.PathwayVersion
}

// IsEmpty reports whether the settings override nothing.
func (s *Settings) IsEmpty() bool {
	return s == nil || (s.PathwayID == "" && s.PathwayVersion == nil && s.StartNodeID == "")
}

// Numbers returns the phone numbers attached to the persona.
func (p *Persona) Numbers() []string {
	out := make([]string, 0, len(p.InboundNumbers))
	for _, n := range p.InboundNumbers {
		out = append(out, n.PhoneNumber)
	}
	return out
}
