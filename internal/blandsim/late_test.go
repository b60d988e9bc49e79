package blandsim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

const lateNumber = "+14155550001"

// abandon sends a call that the client gives up on while it waits in the
// simulator, and returns when the client gave up. stall makes the call wait
// and returns a channel closed once it is waiting (nil: give up after 100 ms).
func abandon(t *testing.T, hs *httptest.Server, method, path string, body any, stall func() <-chan struct{}) time.Time {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := stall()
	result := make(chan error, 1)
	go func() {
		_, err := do(ctx, hs, testKey, method, path, body)
		result <- err
	}()
	if waiting == nil {
		soon := make(chan struct{})
		time.AfterFunc(100*time.Millisecond, func() { close(soon) })
		waiting = soon
	}
	select {
	case <-waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the call never started waiting")
	}
	gaveUp := time.Now()
	cancel()
	if err := <-result; err == nil {
		t.Fatal("the client got an answer it had given up on")
	}
	return gaveUp
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestAnAbandonedWriteLandsLate(t *testing.T) {
	const delay = 300 * time.Millisecond
	attachPath := "/v1/personas/p1/inbound/attach"
	cases := []struct {
		name string
		// latency is the server-wide Latency, set before the server starts.
		latency time.Duration
		stall   func(s *Server) <-chan struct{}
	}{
		{name: "held by a hold", stall: func(s *Server) <-chan struct{} {
			return s.HoldCalls(testPersona, EndpointAttach).Arrived()
		}},
		{name: "slowed by the persona's latency", stall: func(s *Server) <-chan struct{} {
			s.SetPersonaLatency(testPersona, time.Hour)
			return nil
		}},
		{name: "hung by a fault", stall: func(s *Server) <-chan struct{} {
			s.InjectNext(Fault{Kind: FaultHang, Duration: time.Hour}, 1)
			return nil
		}},
		{name: "slowed by the server's latency", latency: time.Hour, stall: func(*Server) <-chan struct{} { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.AddAccount("a", testKey, lateNumber)
			s.AddPersona(testKey, testPersona, "Support")
			s.Latency = tc.latency
			s.SetLateLanding(delay)
			hs := httptest.NewServer(s)
			t.Cleanup(hs.Close)

			gaveUp := abandon(t, hs, http.MethodPost, attachPath, attachBody(lateNumber), func() <-chan struct{} { return tc.stall(s) })
			if got := s.Attached(testPersona); len(got) != 0 {
				t.Fatalf("attached %v as soon as the client gave up", got)
			}
			if h := s.History(); len(h) != 0 {
				t.Fatalf("history %+v before the landing", h)
			}

			eventually(t, "the landing", func() bool { return len(s.History()) > 0 })
			landed := time.Now()
			h := s.History()
			if len(h) != 1 {
				t.Fatalf("history %+v, want the one landing", h)
			}
			c := h[0]
			if !c.Late || c.Endpoint != EndpointAttach || c.Status != http.StatusOK || c.Fault != "" || c.Account != "a" ||
				!slices.Equal(c.Numbers, []string{lateNumber}) {
				t.Fatalf("landing recorded as %+v", c)
			}
			if c.Done.Before(gaveUp.Add(delay)) || c.Done.After(landed) {
				t.Fatalf("landed at %v, %v after the client gave up; want at least %v", c.Done, c.Done.Sub(gaveUp), delay)
			}
			if got := s.Attached(testPersona); !slices.Equal(got, []string{lateNumber}) {
				t.Fatalf("attached %v after the landing", got)
			}
		})
	}
}

func TestLateLandingCoversEveryWrite(t *testing.T) {
	s, hs := newTestServer(t, lateNumber)
	s.AttachOutOfBand(testPersona, lateNumber)
	s.SetLateLanding(50 * time.Millisecond)
	version := int64(2)
	abandon(t, hs, http.MethodPatch, "/v1/personas/p1/inbound/"+lateNumber+"/settings",
		map[string]any{"persona_settings": Settings{PathwayID: "pw", PathwayVersion: &version}},
		func() <-chan struct{} { return s.HoldCalls(testPersona, EndpointSettings).Arrived() })
	eventually(t, "the settings to land", func() bool { return s.SettingsOf(testPersona, lateNumber) != nil })
	abandon(t, hs, http.MethodPost, "/v1/personas/p1/inbound/detach", attachBody(lateNumber),
		func() <-chan struct{} { return s.HoldCalls(testPersona, EndpointDetach).Arrived() })
	eventually(t, "the detach to land", func() bool { return len(s.Attached(testPersona)) == 0 })
	for _, c := range s.History() {
		if !c.Late || c.Status != http.StatusOK {
			t.Fatalf("landing recorded as %+v", c)
		}
	}
}

func TestAnAbandonedReadIsNotLate(t *testing.T) {
	s, hs := newTestServer(t, lateNumber)
	s.SetLateLanding(time.Hour)
	abandon(t, hs, http.MethodGet, "/v1/personas/p1", nil,
		func() <-chan struct{} { return s.HoldCalls(testPersona, EndpointGet).Arrived() })
	eventually(t, "the read to be recorded", func() bool { return len(s.History()) == 1 })
	if c := s.History()[0]; c.Late || c.Endpoint != EndpointGet {
		t.Fatalf("abandoned read recorded as %+v", c)
	}
}

func TestWithoutLateLandingAnAbandonedWriteIsServedAtOnce(t *testing.T) {
	s, hs := newTestServer(t, lateNumber)
	abandon(t, hs, http.MethodPost, "/v1/personas/p1/inbound/attach", attachBody(lateNumber),
		func() <-chan struct{} { return s.HoldCalls(testPersona, EndpointAttach).Arrived() })
	eventually(t, "the attach to be served", func() bool { return len(s.History()) == 1 })
	if c := s.History()[0]; c.Late || c.Status != http.StatusOK {
		t.Fatalf("abandoned attach recorded as %+v", c)
	}
	if got := s.Attached(testPersona); !slices.Equal(got, []string{lateNumber}) {
		t.Fatalf("attached %v", got)
	}
}

func TestACallAnsweredIsNeverLate(t *testing.T) {
	s, hs := newTestServer(t, lateNumber)
	s.SetLateLanding(time.Hour)
	a, err := do(context.Background(), hs, testKey, http.MethodPost, "/v1/personas/p1/inbound/attach", attachBody(lateNumber))
	if err != nil || a.status != http.StatusOK {
		t.Fatalf("attach answered %d, %v", a.status, err)
	}
	if c := s.History()[0]; c.Late {
		t.Fatalf("answered attach recorded as %+v", c)
	}
}
