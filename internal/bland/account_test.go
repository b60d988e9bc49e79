package bland

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// An account with its own rate (a ClusterBlandAccount's spec.rateLimit) is
// paced at that rate, beside another at the client's; its 429s halve its
// own rate, and its answers win back its own rate, not the client's.
func TestAnAccountsOwnRateIsItsCeiling(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"p","name":"P","inbound_numbers":[]}}`))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, AllowInsecure: true, QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	c.UseAccount("sk-slow", Account{Name: "slow", QPS: 0.25, Burst: 2})
	c.UseAccount("sk-default", Account{Name: "team-a/bland"})
	ctx := context.Background()
	for i := range 2 { // the slow account's burst
		if _, err := c.GetPersona(ctx, "sk-slow", "p"); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err = c.GetPersona(ctx, "sk-slow", "p")
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindPaced || be.RetryAfter < 3*time.Second {
		t.Fatalf("the third call of an account of 0.25 calls a second, burst 2: %v, want Paced about 4 s", err)
	}
	for i := range 10 { // the client's burst, for the other account
		if _, err := c.GetPersona(ctx, "sk-default", "p"); err != nil {
			t.Fatalf("the other account's call %d: %v", i, err)
		}
	}
	if pace, throttled, ok := c.AccountPace("slow"); !ok || pace != 0.25 || throttled {
		t.Errorf("AccountPace(slow) = %v, %v, %v; want its own rate 0.25, not throttled", pace, throttled, ok)
	}

	a := c.accountOf(sha256.Sum256([]byte("sk-slow")))
	c.UseAccount("sk-slow", Account{Name: "slow", QPS: 2, Burst: 4})
	c.slowDown(a)
	if pace, throttled, _ := c.AccountPace("slow"); pace != 1 || !throttled {
		t.Fatalf("after a 429 at 2 calls a second: pace %v, throttled %v; want 1, throttled", pace, throttled)
	}
	c.UseAccount("sk-slow", Account{Name: "slow", QPS: 3, Burst: 4})
	if pace := c.Pace("sk-slow"); pace != 1 {
		t.Fatalf("a new rate sped up a throttled account to %v; it must win its pace back", pace)
	}
	for range 100 {
		c.speedUp(a)
	}
	if pace, throttled, _ := c.AccountPace("slow"); pace != 3 || throttled || a.limiter.Burst() != 4 {
		t.Errorf("after recovering: pace %v burst %d throttled %v; want the account's own 3 and 4", pace, a.limiter.Burst(), throttled)
	}
}

// A key no one has used for a day (rotated away) is forgotten when another
// key is first used; a key Bland asked to wait is kept until the wait ends.
func TestAKeyUnusedForADayIsForgotten(t *testing.T) {
	now := time.Now()
	c, err := New(Options{BaseURL: "https://example.invalid", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c.UseAccount("sk-old", Account{Name: "old"})
	blocked := c.accountOf(sha256.Sum256([]byte("sk-blocked")))
	now = now.Add(accountIdle + time.Minute)
	c.block(blocked, time.Hour)
	c.UseAccount("sk-new", Account{Name: "new"})
	if _, _, ok := c.AccountPace("old"); ok {
		t.Error("a key unused for a day is still kept")
	}
	if len(c.accounts) != 2 {
		t.Errorf("the client keeps %d accounts, want 2 (the new key, and the one waiting out a Retry-After)", len(c.accounts))
	}
}

// Each wait for an account's turn is seen by account: in the call, and put
// off to the queue when the turn is far.
func TestAnAccountsWaitsAreObserved(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"p","name":"P","inbound_numbers":[]}}`))
	}))
	defer srv.Close()
	waits := map[string][]time.Duration{}
	c, err := New(Options{BaseURL: srv.URL, AllowInsecure: true, QPS: 5, Burst: 1,
		ObserveWait: func(account string, d time.Duration) { waits[account] = append(waits[account], d) }})
	if err != nil {
		t.Fatal(err)
	}
	c.UseAccount("sk-a", Account{Name: "a"})
	c.UseAccount("sk-far", Account{Name: "far", QPS: 0.1, Burst: 1})
	ctx := context.Background()
	for range 2 {
		if _, err := c.GetPersona(ctx, "sk-a", "p"); err != nil {
			t.Fatal(err)
		}
		_, _ = c.GetPersona(ctx, "sk-far", "p")
	}
	if len(waits["a"]) != 1 || waits["a"][0] < 100*time.Millisecond || waits["a"][0] > time.Second {
		t.Errorf("account a's waits %v, want one of about 200 ms (its second call)", waits["a"])
	}
	if len(waits["far"]) != 1 || waits["far"][0] < 8*time.Second {
		t.Errorf("account far's waits %v, want one of about 10 s put off", waits["far"])
	}
}
