package blandsim

import (
	"slices"
	"time"
)

// Endpoint names one of the simulated calls.
type Endpoint string

// The endpoints, as recorded in the history.
const (
	EndpointGet          Endpoint = "get"
	EndpointList         Endpoint = "list"
	EndpointAttach       Endpoint = "attach"
	EndpointDetach       Endpoint = "detach"
	EndpointSettings     Endpoint = "settings"
	EndpointCreate       Endpoint = "create"
	EndpointDelete       Endpoint = "delete"
	EndpointAgentAttach  Endpoint = "agent-attach"
	EndpointAgentDetach  Endpoint = "agent-detach"
	EndpointAgentGet     Endpoint = "agent-get"
	EndpointUnknownRoute Endpoint = "unknown"
)

// Call is one request the simulator received.
type Call struct {
	Time     time.Time `json:"time"`
	Account  string    `json:"account"` // the account's name, never the key
	Endpoint Endpoint  `json:"endpoint"`
	// PersonaID is the persona of a v1 call, the agent of a v2 call.
	PersonaID string   `json:"personaID,omitempty"`
	Numbers   []string `json:"numbers,omitempty"`
	Status    int      `json:"status"`
	Fault     string   `json:"fault,omitempty"`
	// Done is when the answer was written.
	Done time.Time `json:"done"`
	// RetryAfter is the Retry-After header of a 429, as sent.
	RetryAfter string `json:"retryAfter,omitempty"`
	// Late marks a write whose client gave up before its answer, applied
	// later (see SetLateLanding); Done is when it landed. Its Status is what
	// Bland would have answered, which nobody read.
	Late bool `json:"late,omitempty"`
}

// IsWrite reports whether the call changes state in Bland.
func (c Call) IsWrite() bool {
	switch c.Endpoint {
	case EndpointAttach, EndpointDetach, EndpointSettings, EndpointCreate, EndpointDelete, EndpointAgentAttach, EndpointAgentDetach:
		return true
	}
	return false
}

// History returns a copy of every call received so far.
func (s *Server) History() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history)
}

// Calls returns the calls that match keep.
func (s *Server) Calls(keep func(Call) bool) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.history {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// MostInASecond is the most calls that started in any one-second window:
// what a token bucket's bound (burst + rate) is checked against.
func MostInASecond(calls []Call) int {
	calls = slices.Clone(calls)
	slices.SortFunc(calls, func(a, b Call) int { return a.Time.Compare(b.Time) })
	most := 0
	for i := range calls {
		j := i
		for j < len(calls) && calls[j].Time.Sub(calls[i].Time) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// CountFor returns how many calls were made for a persona, by endpoint.
func (s *Server) CountFor(personaID string) map[Endpoint]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[Endpoint]int{}
	for _, c := range s.history {
		if c.PersonaID == personaID {
			out[c.Endpoint]++
		}
	}
	return out
}

// CallsFor returns the calls made for a persona.
func (s *Server) CallsFor(personaID string) []Call {
	return s.Calls(func(c Call) bool { return c.PersonaID == personaID })
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	c.Done = s.now()
	s.history = append(s.history, c)
	hook := s.OnCall
	s.mu.Unlock()
	if hook != nil {
		hook(c)
	}
}
