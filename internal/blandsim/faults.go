package blandsim

import (
	"math/rand/v2"
	"slices"
	"time"
)

// FaultKind is a way a call can go wrong.
type FaultKind string

// The faults the simulator can inject.
const (
	// FaultStatus answers with Status and an HTML body, as a proxy in front of
	// an API would.
	FaultStatus FaultKind = "status"
	// FaultRateLimit answers 429 with the RetryAfter header.
	FaultRateLimit FaultKind = "rate-limit"
	// FaultHang holds the request for Duration (or until the client gives up).
	FaultHang FaultKind = "hang"
	// FaultReset closes the connection without an answer.
	FaultReset FaultKind = "reset"
	// FaultEnvelope answers HTTP 200 with Code in the errors list.
	FaultEnvelope FaultKind = "envelope"
	// FaultBody answers Status (200 if zero) with Body as it is.
	FaultBody FaultKind = "body"
)

// Fault describes one injected failure. Account and Endpoint, when set, limit
// it to matching calls.
type Fault struct {
	Kind       FaultKind
	Status     int
	RetryAfter string
	Code       string
	Body       []byte
	Duration   time.Duration
	Account    string
	Endpoint   Endpoint
}

func (f Fault) matches(account string, ep Endpoint) bool {
	return (f.Account == "" || f.Account == account) && (f.Endpoint == "" || f.Endpoint == ep)
}

type faultState struct {
	queued []queuedFault
	rate   float64
	pool   []Fault
	rng    *rand.Rand
}

type queuedFault struct {
	fault Fault
	left  int
}

// InjectNext makes the next n matching calls fail with f, after any fault
// queued before it.
func (s *Server) InjectNext(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.queued = append(s.faults.queued, queuedFault{fault: f, left: n})
}

// InjectRandom makes a share rate (0 to 1) of all calls fail with a fault
// drawn from pool, reproducibly for a seed.
func (s *Server) InjectRandom(rate float64, seed uint64, pool ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rate = rate
	s.faults.pool = slices.Clone(pool)
	s.faults.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// ClearFaults stops every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faultState{}
}

// nextFault picks the fault for a call, if any.
func (s *Server) nextFault(account string, ep Endpoint) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults.queued {
		q := &s.faults.queued[i]
		if q.left > 0 && q.fault.matches(account, ep) {
			q.left--
			f := q.fault
			if q.left == 0 {
				s.faults.queued = slices.Delete(s.faults.queued, i, i+1)
			}
			return f, true
		}
	}
	if s.faults.rate > 0 && len(s.faults.pool) > 0 && s.faults.rng.Float64() < s.faults.rate {
		f := s.faults.pool[s.faults.rng.IntN(len(s.faults.pool))]
		if f.matches(account, ep) {
			return f, true
		}
	}
	return Fault{}, false
}
