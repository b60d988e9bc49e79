package bland

import (
	"math"

	"golang.org/x/time/rate"
)

// pace adapts the client's rate to Bland's. An organization's rate limit
// (org_rate_limit, 5 by default) may be below the configured QPS, and Bland
// documents no Retry-After for it, so waiting a second after each 429 is not
// enough: calls made back to back in one pass (a read, then an attach) would
// meet the limit every time. Each 429 halves the rate; each answer that is
// not a 429 raises it by a tenth (and a tenth of a call a second), up to
// the configured rate: about 25 answers win back a halving at 5 a second.
type pace struct {
	qps   rate.Limit // the configured rate, the ceiling
	burst int        // the configured burst
}

const (
	// minPace is the slowest the client goes: one call every two seconds.
	minPace = rate.Limit(0.5)
	// paceStep is what each answered call wins back beyond a tenth of the
	// rate, in calls a second, so that the slowest pace recovers too.
	paceStep = rate.Limit(0.1)
)

func (c *Client) slowDown() {
	if c.pace.qps == rate.Inf {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := max(c.limiter.Limit()/2, minPace)
	c.limiter.SetLimit(next)
	c.limiter.SetBurst(max(1, int(math.Ceil(float64(next)))))
}

func (c *Client) speedUp() {
	if c.pace.qps == rate.Inf {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	current := c.limiter.Limit()
	if current >= c.pace.qps {
		return
	}
	next := min(current*1.1+paceStep, c.pace.qps)
	c.limiter.SetLimit(next)
	burst := c.pace.burst
	if next < c.pace.qps {
		burst = max(1, int(math.Ceil(float64(next))))
	}
	c.limiter.SetBurst(burst)
}

// Pace is the rate the client calls Bland at now, in calls a second.
func (c *Client) Pace() float64 { return float64(c.limiter.Limit()) }
