package bland_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

const (
	key     = "sk-client-test"
	persona = "12345678-1234-1234-1234-123456789012"
)

func newSim(t *testing.T) (*blandsim.Server, *bland.Client) {
	t.Helper()
	sim := blandsim.New()
	sim.AddAccount("acct", key, "+14155550001", "+14155550002")
	sim.AddPersona(key, persona, "Support Agent")
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestClientAgainstTheSimulator(t *testing.T) {
	sim, c := newSim(t)
	ctx := context.Background()

	p, err := c.AttachNumbers(ctx, key, persona, []string{"+14155550001", "+14155550002"})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if got := strings.Join(p.Numbers(), ","); got != "+14155550001,+14155550002" {
		t.Errorf("attach returned numbers %s", got)
	}
	version := int64(3)
	n, err := c.UpdateNumberSettings(ctx, key, persona, "+14155550001", &bland.Settings{PathwayID: "pw", PathwayVersion: &version})
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	if n.PersonaSettings == nil || n.PersonaSettings.PathwayID != "pw" || *n.PersonaSettings.PathwayVersion != 3 {
		t.Errorf("settings returned %+v", n.PersonaSettings)
	}
	p, err = c.DetachNumbers(ctx, key, persona, []string{"+14155550002"})
	if err != nil {
		t.Fatalf("detach: %v", err)
	}
	if got := strings.Join(p.Numbers(), ","); got != "+14155550001" {
		t.Errorf("detach left %s", got)
	}
	p, err = c.GetPersona(ctx, key, persona)
	if err != nil || p.Name != "Support Agent" || p.InboundNumbers[0].PersonaSettings.PathwayID != "pw" {
		t.Errorf("get: %+v, %v", p, err)
	}
	if got := len(sim.History()); got != 4 {
		t.Errorf("simulator saw %d calls, want 4", got)
	}
}

func TestClientClassifiesErrors(t *testing.T) {
	_, c := newSim(t)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want bland.Kind
	}{
		{"a wrong key is unauthorized", func() error { _, err := c.GetPersona(ctx, "wrong", persona); return err }, bland.KindUnauthorized},
		{"a missing persona is not found", func() error { _, err := c.GetPersona(ctx, key, "nope"); return err }, bland.KindNotFound},
		{"a number outside the account is not owned", func() error {
			_, err := c.AttachNumbers(ctx, key, persona, []string{"+19995550000"})
			return err
		}, bland.KindNumberNotOwned},
		{"settings of a detached number are retried after a new read", func() error {
			_, err := c.UpdateNumberSettings(ctx, key, persona, "+14155550002", nil)
			return err
		}, bland.KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := bland.KindOf(err); got != tt.want {
				t.Errorf("kind = %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}

// serve answers every request with a fixed status, headers and body.
func serve(t *testing.T, status int, body string, headers ...string) (*bland.Client, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: -1, MaxResponseBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return c, &hits
}

func TestClientHandlesBadResponses(t *testing.T) {
	okPersona := `{"data":{"id":"p1","name":"n","inbound_numbers":[],"brand_new_field":{"x":1}},"errors":null}`
	tests := []struct {
		name   string
		status int
		body   string
		want   bland.Kind // "" means success
	}{
		{"unknown fields are ignored", 200, okPersona, ""},
		{"truncated JSON is transient", 200, okPersona[:40], bland.KindTransient},
		{"an HTML error page is transient", 502, "<html><body>Bad Gateway</body></html>", bland.KindTransient},
		{"an oversized body is refused", 200, `{"data":"` + strings.Repeat("x", 1<<17) + `"}`, bland.KindTransient},
		{"errors with HTTP 200 are a failure", 200, `{"data":null,"errors":[{"error":"PERSONA_NOT_FOUND","message":"Persona not found or access denied"}]}`, bland.KindNotFound},
		{"an unknown error code with HTTP 200 is retried", 200, `{"data":null,"errors":[{"error":"SOMETHING_ELSE","message":"?"}]}`, bland.KindTransient},
		{"data null without errors is transient", 200, `{"data":null,"errors":null}`, bland.KindTransient},
		{"a persona without an id is transient", 200, `{"data":{"name":"x"},"errors":null}`, bland.KindTransient},
		{"data of the wrong type is transient", 200, `{"data":[1,2],"errors":null}`, bland.KindTransient},
		{"403 is unauthorized", 403, `not json`, bland.KindUnauthorized},
		{"a 400 without a code is invalid", 400, `{}`, bland.KindInvalid},
		{"invalid UTF-8 in a message is cleaned", 400, "{\"errors\":[{\"error\":\"BAD\",\"message\":\"\xff\xfe\"}]}", bland.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := serve(t, tt.status, tt.body)
			_, err := c.GetPersona(context.Background(), key, "p1")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var be *bland.Error
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *bland.Error", err)
			}
			if be.Kind != tt.want {
				t.Errorf("kind = %s (%v), want %s", be.Kind, err, tt.want)
			}
			if !strings.Contains(be.Error(), "get persona") || !utf8.ValidString(be.Error()) {
				t.Errorf("message %q is not clean", be.Error())
			}
		})
	}
}

func TestRetryAfterBlocksTheKey(t *testing.T) {
	for _, tt := range []struct {
		name, header string
		want         time.Duration
	}{
		{"in seconds", "7", 7 * time.Second},
		{"as an HTTP date", time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 89 * time.Second},
		{"missing", "", time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, hits := serve(t, 429, `{"errors":[{"error":"RATE_LIMITED"}]}`, "Retry-After", tt.header)
			_, err := c.GetPersona(context.Background(), key, "p1")
			be, ok := bland.AsError(err)
			if !ok || be.Kind != bland.KindRateLimited {
				t.Fatalf("got %v, want rate limited", err)
			}
			if be.RetryAfter < tt.want || be.RetryAfter > tt.want+2*time.Second {
				t.Errorf("RetryAfter = %s, want about %s", be.RetryAfter, tt.want)
			}
			// Another key is not blocked.
			_, _ = c.GetPersona(context.Background(), "other-key", "p1")
			if hits.Load() != 2 {
				t.Errorf("another key was blocked")
			}
			// A second call inside a long window never reaches the server;
			// inside a short one it waits it out, then goes.
			sent := time.Now()
			_, err = c.AttachNumbers(context.Background(), key, "p1", []string{"+14155550001"})
			if tt.want > 2*time.Second {
				if bland.KindOf(err) != bland.KindRateLimited || hits.Load() != 2 {
					t.Errorf("second call: %v, server hits %d, want rate limited without a call", err, hits.Load())
				}
				return
			}
			if hits.Load() != 3 || time.Since(sent) < tt.want/2 {
				t.Errorf("second call reached the server %d times after %s, want once after waiting about %s", hits.Load()-2, time.Since(sent), tt.want)
			}
		})
	}
}

func TestPathsAreEscaped(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		_, _ = w.Write([]byte(`{"data":{"phone_number":"+1"},"errors":null}`))
	}))
	defer srv.Close()
	c, _ := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: -1})
	_, _ = c.UpdateNumberSettings(context.Background(), key, "../admin?x=1", "+1 415/555", nil)
	if want := "/v1/personas/..%2Fadmin%3Fx=1/inbound/+1%20415%2F555/settings"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
}

func TestPlainHTTPIsRefusedUnlessAllowed(t *testing.T) {
	if _, err := bland.New(bland.Options{BaseURL: "http://api.example"}); err == nil || !strings.Contains(err.Error(), "--allow-insecure-api-url") {
		t.Errorf("plain http was accepted: %v", err)
	}
	if _, err := bland.New(bland.Options{BaseURL: "http://api.example", AllowInsecure: true}); err != nil {
		t.Errorf("allowed plain http was refused: %v", err)
	}
	if _, err := bland.New(bland.Options{BaseURL: "ftp://api.example"}); err == nil {
		t.Errorf("ftp was accepted")
	}
}

func TestTokenBucketBoundsTheRate(t *testing.T) {
	_, hits := serve(t, 200, `{"data":{"id":"p1"},"errors":null}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"data":{"id":"p1"},"errors":null}`))
	}))
	defer srv.Close()
	limited, err := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: 1, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := limited.GetPersona(ctx, key, "p1"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err = limited.GetPersona(ctx, key, "p1")
	if bland.KindOf(err) != bland.KindTransient || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("second call inside the bucket's wait: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("server saw %d calls, want 1", hits.Load())
	}
}
