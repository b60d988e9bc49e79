package blandsim

import (
	"net/http"
	"time"
)

// SetLateLanding makes a write (attach, detach, settings) whose client gave up
// while the call waited (on a hold, latency or a hang fault) land d after the
// client gave up, as Bland may still apply a request whose answer never
// reached the caller. The landing is recorded when it happens, with Late set.
// Reads a client abandoned are served or dropped at once as before, and d = 0
// restores that for writes too.
func (s *Server) SetLateLanding(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.late = d
}

// landLater runs land d after now if late landing is on and ep writes, and
// reports whether it did. The timer's goroutine outlives the request, which is
// the point: the caller has already stopped listening.
func (s *Server) landLater(ep Endpoint, land func()) bool {
	s.mu.Lock()
	d := s.late
	s.mu.Unlock()
	if d <= 0 || !(Call{Endpoint: ep}).IsWrite() {
		return false
	}
	time.AfterFunc(d, land)
	return true
}

// gaveUp reports whether the client stopped waiting for its answer.
func gaveUp(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// discard is the ResponseWriter of a call that lands late: nobody reads it.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
