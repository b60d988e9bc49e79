package bland

import (
	"testing"

	"golang.org/x/time/rate"
)

// TestPaceHalvesOnA429AndWinsItBack checks the client's adaptive rate: a
// 429 halves it (never below minPace), answers raise it back, never past
// the configured rate, and an unlimited client stays unlimited.
func TestPaceHalvesOnA429AndWinsItBack(t *testing.T) {
	c, err := New(Options{BaseURL: "https://example.invalid", QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	c.slowDown()
	if got := c.Pace(); got != 2.5 {
		t.Fatalf("after one 429 the pace is %v, want 2.5", got)
	}
	for range 10 {
		c.slowDown()
	}
	if got := c.Pace(); got != float64(minPace) {
		t.Fatalf("after many 429s the pace is %v, want the floor %v", got, minPace)
	}
	answers := 0
	for c.Pace() < 5 {
		c.speedUp()
		answers++
		if answers > 100 {
			t.Fatalf("the pace never came back: %v after 100 answers", c.Pace())
		}
	}
	if c.Pace() != 5 || c.limiter.Burst() != 10 {
		t.Fatalf("pace %v burst %d after recovering, want the configured 5 and 10", c.Pace(), c.limiter.Burst())
	}
	t.Logf("from the floor back to 5 calls a second in %d answers", answers)

	unlimited, err := New(Options{BaseURL: "https://example.invalid", QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	unlimited.slowDown()
	if unlimited.limiter.Limit() != rate.Inf {
		t.Fatalf("an unlimited client was slowed to %v", unlimited.Pace())
	}
}
