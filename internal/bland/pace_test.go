package bland

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestPaceHalvesOnA429AndWinsItBack checks an account's adaptive rate: a
// 429 halves it (never below minPace), answers raise it back, never past
// the configured rate, and an unlimited client stays unlimited.
func TestPaceHalvesOnA429AndWinsItBack(t *testing.T) {
	c, err := New(Options{BaseURL: "https://example.invalid", QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	a := c.accountOf(sha256.Sum256([]byte("sk-a")))
	c.slowDown(a)
	if got := c.Pace("sk-a"); got != 2.5 {
		t.Fatalf("after one 429 the pace is %v, want 2.5", got)
	}
	for range 10 {
		c.slowDown(a)
	}
	if got := c.Pace("sk-a"); got != float64(minPace) {
		t.Fatalf("after many 429s the pace is %v, want the floor %v", got, minPace)
	}
	answers := 0
	for c.Pace("sk-a") < 5 {
		c.speedUp(a)
		answers++
		if answers > 100 {
			t.Fatalf("the pace never came back: %v after 100 answers", c.Pace("sk-a"))
		}
	}
	if c.Pace("sk-a") != 5 || a.limiter.Burst() != 10 {
		t.Fatalf("pace %v burst %d after recovering, want the configured 5 and 10", c.Pace("sk-a"), a.limiter.Burst())
	}
	t.Logf("from the floor back to 5 calls a second in %d answers", answers)

	unlimited, err := New(Options{BaseURL: "https://example.invalid", QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	u := unlimited.accountOf(sha256.Sum256([]byte("sk-a")))
	unlimited.slowDown(u)
	if u.limiter.Limit() != rate.Inf {
		t.Fatalf("an unlimited client was slowed to %v", unlimited.Pace("sk-a"))
	}
}

// One organization's 429s slow and block its own key only: after six of
// them (its pace at the floor), another key keeps the configured pace and
// its calls leave at once, while the throttled key's next call inside its
// Retry-After fails at once, not sent.
func TestOneAccountsThrottlingNeverSlowsAnother(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("authorization") == "sk-throttled" {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"data":{"id":"p","name":"P","inbound_numbers":[]}}`))
	}))
	defer srv.Close()
	now := time.Now()
	c, err := New(Options{BaseURL: srv.URL, AllowInsecure: true, QPS: 5, Burst: 2, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 6 {
		if _, err := c.GetPersona(ctx, "sk-throttled", "p"); KindOf(err) != KindRateLimited {
			t.Fatalf("the throttled account's call: %v, want a 429", err)
		}
		now = now.Add(61 * time.Second) // its Retry-After is over
	}
	if got := c.Pace("sk-throttled"); got != float64(minPace) {
		t.Fatalf("the throttled account's pace is %v, want the floor", got)
	}
	if got := c.Pace("sk-quiet"); got != 5 {
		t.Fatalf("the other account's pace is %v, want the configured 5", got)
	}
	_, _ = c.GetPersona(ctx, "sk-throttled", "p") // a 429 again
	start := time.Now()
	for range 2 { // its burst
		if _, err := c.GetPersona(ctx, "sk-quiet", "p"); err != nil {
			t.Fatalf("the other account's call failed: %v", err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the other account's two calls took %v", took)
	}
	_, err = c.GetPersona(ctx, "sk-throttled", "p")
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindRateLimited || !be.NotSent || be.RetryAfter < 50*time.Second {
		t.Errorf("the throttled account's call inside its Retry-After: %v, want RateLimited, not sent", err)
	}
}

// A call whose account's next token is further away than maxWaitInCall is
// not sent: it fails at once (Paced, with the wait), so that the worker is
// given back; a shorter wait is waited.
func TestACallFarFromItsTurnGivesItsWorkerBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"p","name":"P","inbound_numbers":[]}}`))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, AllowInsecure: true, QPS: 0.2, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.GetPersona(ctx, "sk-slow", "p"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.GetPersona(ctx, "sk-slow", "p")
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindPaced || !be.NotSent || be.RetryAfter < 4*time.Second {
		t.Fatalf("a call 5 s from its turn: %v, want Paced, not sent, retry after about 5 s", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("the paced call held its caller for %v", took)
	}
	// The cancelled turn was given back: the next one is not further away.
	_, err = c.GetPersona(ctx, "sk-slow", "p")
	if !errors.As(err, &be) || be.RetryAfter > 5*time.Second {
		t.Errorf("a second paced call: %v, want its turn within 5 s", err)
	}
}

// Bland documents a 429 whose body says "This number is blacklisted": that
// is the number's refusal, not a rate signal. The key is not blocked, its
// pace is not halved, and the answer is a refusal (Invalid) to isolate.
func TestA429AboutANumberIsItsRefusalNotThePace(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"data":null,"errors":[{"error":"TOO_MANY_REQUESTS","message":"This number is blacklisted"}]}`))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, AllowInsecure: true, QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AttachNumbers(context.Background(), "sk-a", "p", []string{"+14155550001"})
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindInvalid || be.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a blacklisted number: %v, want an Invalid refusal", err)
	}
	if got := c.Pace("sk-a"); got != 5 {
		t.Errorf("the pace fell to %v on a number's refusal", got)
	}
	if wait := c.blockedFor(c.accountOf(sha256.Sum256([]byte("sk-a")))); wait != 0 {
		t.Errorf("the key is blocked for %v after a number's refusal", wait)
	}
}
