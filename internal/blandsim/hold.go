package blandsim

import (
	"slices"
	"sync"
	"time"
)

// Hold keeps matching calls waiting before they are served, so a test can
// change the cluster while the operator's call is in flight and know that it
// is in flight, without sleeping.
type Hold struct {
	personaID string
	endpoint  Endpoint
	arrived   chan struct{}
	released  chan struct{}
	once      sync.Once
	seen      sync.Once
}

// HoldCalls makes the next calls for personaID to endpoint wait until Release.
// Every matching call waits until then; Arrived is closed when the first one
// starts waiting.
func (s *Server) HoldCalls(personaID string, endpoint Endpoint) *Hold {
	h := &Hold{personaID: personaID, endpoint: endpoint, arrived: make(chan struct{}), released: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	return h
}

// Arrived is closed once a matching call is waiting.
func (h *Hold) Arrived() <-chan struct{} { return h.arrived }

// Release lets every held call, and any later one, through.
func (h *Hold) Release() { h.once.Do(func() { close(h.released) }) }

// SetPersonaLatency delays every call for personaID by d (0 removes it).
func (s *Server) SetPersonaLatency(personaID string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latency == nil {
		s.latency = map[string]time.Duration{}
	}
	s.latency[personaID] = d
}

// wait blocks a call for personaID to ep as holds and latency say, or until
// done is closed (the client gave up).
func (s *Server) wait(personaID string, ep Endpoint, done <-chan struct{}) {
	s.mu.Lock()
	delay := s.latency[personaID]
	var mine []*Hold
	s.holds = slices.DeleteFunc(s.holds, func(h *Hold) bool {
		select {
		case <-h.released:
			return true
		default:
		}
		if h.personaID == personaID && h.endpoint == ep {
			mine = append(mine, h)
		}
		return false
	})
	s.mu.Unlock()
	for _, h := range mine {
		h.seen.Do(func() { close(h.arrived) })
		select {
		case <-h.released:
		case <-done:
			return
		}
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-done:
		}
	}
}
