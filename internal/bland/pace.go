package bland

import (
	"context"
	"crypto/sha256"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// account is what the client keeps for one API key, which is one Bland
// account as far as the operator can tell: its own token bucket, its own
// adaptive pace, and how long Bland asked it to wait. One account's 429s
// and Retry-After never slow another's calls: Bland's org_rate_limit is per
// organization, and a 429 says nothing about another organization's
// headroom. (Two keys of one organization are two accounts here, and share
// Bland's limit between them.)
type account struct {
	limiter      *rate.Limiter
	blockedUntil time.Time
	// name is how metrics show the account (a ClusterBlandAccount's name,
	// or namespace/Secret): never the key.
	name string
	// ceiling is the account's full pace: its own rate, or the client's.
	ceiling pace
	// lastUsed lets the client forget a key no one has used for a day (a
	// rotated key), so that its accounts do not grow for ever.
	lastUsed time.Time
}

// Account is what the operator knows of the account a key belongs to: how
// metrics name it (never by the key) and, when its ClusterBlandAccount sets
// one, its own rate.
type Account struct {
	// Name is the ClusterBlandAccount's name, or namespace/Secret.
	Name string
	// QPS and Burst are the account's own rate; zero takes the client's.
	QPS   float64
	Burst int
}

// UseAccount tells the client about apiKey's account: its name, and its
// rate. A key read from two places carries what it was last read under. A
// new rate takes effect at once, but an account slowed by Bland's 429s is
// never sped up by it: it wins its pace back as before, up to the new rate.
func (c *Client) UseAccount(apiKey string, acct Account) {
	a := c.accountOf(sha256.Sum256([]byte(apiKey)))
	want := c.pace
	if acct.QPS > 0 {
		want.qps = rate.Limit(acct.QPS)
	}
	if acct.Burst > 0 {
		want.burst = acct.Burst
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a.name = acct.Name
	if want == a.ceiling {
		return
	}
	atFull := a.limiter.Limit() >= a.ceiling.qps
	a.ceiling = want
	if atFull || a.limiter.Limit() > want.qps {
		a.limiter.SetLimit(want.qps)
		a.limiter.SetBurst(want.burst)
	}
}

// accountName is how metrics name the account.
func (c *Client) accountName(a *account) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.name == "" {
		return "unnamed"
	}
	return a.name
}

// paceRatio is the account's pace as a share of its full rate (1 at full
// speed), and its name.
func (c *Client) paceRatio(a *account) (string, float64) {
	name := c.accountName(a)
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.ceiling.qps == rate.Inf {
		return name, 1
	}
	return name, float64(a.limiter.Limit() / a.ceiling.qps)
}

// pace adapts an account's rate to Bland's. An organization's rate limit
// (org_rate_limit, 5 by default) may be below the configured QPS, and Bland
// documents no Retry-After for it, so waiting a second after each 429 is not
// enough: calls made back to back in one pass (a read, then an attach) would
// meet the limit every time. Each 429 halves the account's rate; each
// answer that is not a 429 raises it by a tenth (and a tenth of a call a
// second), up to the configured rate: about 25 answers win back a halving
// at 5 a second.
type pace struct {
	qps   rate.Limit // calls a second at full speed
	burst int        // calls at once after a quiet spell
}

const (
	// minPace is the slowest an account goes: one call every two seconds.
	minPace = rate.Limit(0.5)
	// paceStep is what each answered call wins back beyond a tenth of the
	// rate, in calls a second, so that the slowest pace recovers too.
	paceStep = rate.Limit(0.1)
)

// accountIdle is how long a key goes unused before the client forgets it.
const accountIdle = 24 * time.Hour

// accountOf returns the account of a key digest, made on first use. Making
// one forgets the accounts unused for accountIdle (keys rotated away), but
// never one Bland asked to wait.
func (c *Client) accountOf(key [sha256.Size]byte) *account {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.accounts[key]
	if !ok {
		for k, old := range c.accounts {
			if now.Sub(old.lastUsed) > accountIdle && !now.Before(old.blockedUntil) {
				delete(c.accounts, k)
			}
		}
		a = &account{limiter: rate.NewLimiter(c.pace.qps, c.pace.burst), ceiling: c.pace}
		c.accounts[key] = a
	}
	a.lastUsed = now
	return a
}

// takeTurn waits for the account's next token when it comes within
// maxWaitInCall; a longer wait fails the call at once (Paced, not sent), so
// that a persona whose account is slow gives its worker back and is queued
// again for the moment its account can call, and other accounts' personas
// are served meanwhile.
// It adds the wait, or the time put off, to waited.
func (c *Client) takeTurn(ctx context.Context, op string, a *account, waited *time.Duration) error {
	now := c.now()
	r := a.limiter.ReserveN(now, 1)
	if !r.OK() {
		return &Error{Kind: KindTransient, Op: op, Message: "the client rate limit allows no call", NotSent: true}
	}
	wait := r.DelayFrom(now)
	if wait <= 0 {
		return nil
	}
	*waited += wait
	if wait > maxWaitInCall {
		r.CancelAt(now)
		return &Error{Kind: KindPaced, Op: op, Message: "waiting for this account's turn", RetryAfter: wait, NotSent: true}
	}
	if !sleep(ctx, wait) {
		r.Cancel()
		return &Error{Kind: KindTransient, Op: op, Message: "waiting for the client rate limit: " + ctx.Err().Error(), NotSent: true}
	}
	return nil
}

func (c *Client) slowDown(a *account) {
	if a.ceiling.qps == rate.Inf {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := max(a.limiter.Limit()/2, minPace)
	a.limiter.SetLimit(next)
	a.limiter.SetBurst(max(1, int(math.Ceil(float64(next)))))
}

func (c *Client) speedUp(a *account) {
	if a.ceiling.qps == rate.Inf {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	current := a.limiter.Limit()
	if current >= a.ceiling.qps {
		return
	}
	next := min(current*1.1+paceStep, a.ceiling.qps)
	a.limiter.SetLimit(next)
	burst := a.ceiling.burst
	if next < a.ceiling.qps {
		burst = max(1, int(math.Ceil(float64(next))))
	}
	a.limiter.SetBurst(burst)
}

// Pace is the rate the client calls Bland at now with apiKey's account, in
// calls a second.
func (c *Client) Pace(apiKey string) float64 {
	return float64(c.accountOf(sha256.Sum256([]byte(apiKey))).limiter.Limit())
}

// AccountPace is the pace of the account named name (UseAccount), in calls
// a second, and whether it is throttled: slower than the configured rate,
// or waiting out Bland's Retry-After. ok is false until a key of that name
// was used.
func (c *Client) AccountPace(name string) (pace float64, throttled, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.accounts {
		if a.name != name {
			continue
		}
		limit := a.limiter.Limit()
		return float64(limit), limit < a.ceiling.qps || c.now().Before(a.blockedUntil), true
	}
	return 0, false, false
}
