package bland_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// A write that waited out a Retry-After looks again just before it is
// sent, and is not sent when the look says its reason has gone.
func TestTheLastLookRunsAfterTheWaitAndCanStopTheCall(t *testing.T) {
	c, hits := serve(t, 429, `{"errors":[{"error":"RATE_LIMITED"}]}`, "Retry-After", "1")
	_, _ = c.GetPersona(context.Background(), key, "p1") // blocks the key for a second
	blocked := time.Now()

	stale := errors.New("the plan is stale")
	var lookedAt time.Time
	ctx := bland.WithLastLook(context.Background(), func() error {
		lookedAt = time.Now()
		return stale
	})
	_, err := c.DetachNumbers(ctx, key, "p1", []string{"+14155550001"})
	if !errors.Is(err, stale) {
		t.Fatalf("got %v, want the look's error", err)
	}
	if hits.Load() != 1 {
		t.Errorf("the server saw %d calls, want only the first: a call its look refused was sent", hits.Load())
	}
	if lookedAt.Sub(blocked) < 900*time.Millisecond {
		t.Errorf("the look ran %s after the 429, want after the one-second wait", lookedAt.Sub(blocked))
	}

	// A look that finds nothing wrong lets the call go.
	ctx = bland.WithLastLook(context.Background(), func() error { return nil })
	_, _ = c.DetachNumbers(ctx, key, "p1", []string{"+14155550001"})
	if hits.Load() != 2 {
		t.Errorf("the server saw %d calls, want 2", hits.Load())
	}
}
