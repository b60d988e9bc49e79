package bland

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultBaseURL is Bland's public API.
const DefaultBaseURL = "https://api.bland.ai"

// Options configure a Client. Zero values take the defaults in parentheses.
type Options struct {
	// BaseURL of the API (DefaultBaseURL). Plain http is refused unless
	// AllowInsecure is set, so that a key never crosses a network in clear text.
	BaseURL       string
	AllowInsecure bool
	// QPS and Burst size each account's token bucket (5 and 10), unless
	// UseAccount gives the account its own. A QPS below zero turns the
	// buckets off.
	QPS   float64
	Burst int
	// Timeout bounds one call, including reading the body (30s).
	Timeout time.Duration
	// MaxResponseBytes caps the body read from one response (8 MiB).
	MaxResponseBytes int64
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// Now replaces the clock (tests).
	Now func() time.Time
	// Observe, when set, sees every HTTP call made: its endpoint, how it ended
	// (nil or an *Error) and how long it took.
	Observe func(endpoint string, err error, took time.Duration)
	// ObserveAccount, when set, sees every HTTP call made by account: the
	// account's name (UseAccount), how the call ended, and the account's
	// pace after it as a share of its full rate.
	ObserveAccount func(account string, err error, paceRatio float64)
	// ObserveWait, when set, sees each time a call waited for its account's
	// turn (its bucket, or Bland's Retry-After), in the call or put off to
	// the queue, by account name.
	ObserveWait func(account string, waited time.Duration)
}

// Client calls the Bland persona API. It is safe for concurrent use; one Client
// is shared by all reconciles, and keeps a token bucket and a pace per
// account (API key), so that each account's rate is bounded and one
// account's throttling never slows another.
type Client struct {
	base     string
	http     *http.Client
	maxBytes int64
	now      func() time.Time
	observe  func(string, error, time.Duration)
	account  func(string, error, float64)
	wait     func(string, time.Duration)

	mu       sync.Mutex
	accounts map[[sha256.Size]byte]*account
	pace     pace
}

// New checks the options and returns a Client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bland API URL %q is not an absolute URL", o.BaseURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && o.AllowInsecure:
	case u.Scheme == "http":
		return nil, fmt.Errorf("bland API URL %q uses plain http; the API key would travel unencrypted (start the manager with --allow-insecure-api-url to allow it)", o.BaseURL)
	default:
		return nil, fmt.Errorf("bland API URL %q must use https", o.BaseURL)
	}
	if o.QPS == 0 {
		o.QPS = 5
	}
	if o.Burst <= 0 {
		o.Burst = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 8 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	limit := rate.Limit(o.QPS)
	if o.QPS < 0 {
		limit = rate.Inf
	}
	return &Client{
		base:     strings.TrimRight(u.String(), "/"),
		http:     &http.Client{Timeout: o.Timeout, Transport: o.Transport},
		pace:     pace{qps: limit, burst: o.Burst},
		maxBytes: o.MaxResponseBytes,
		now:      o.Now,
		observe:  o.Observe,
		account:  o.ObserveAccount,
		wait:     o.ObserveWait,
		accounts: map[[sha256.Size]byte]*account{},
	}, nil
}

// GetPersona reads a persona and the numbers attached to it.
func (c *Client) GetPersona(ctx context.Context, apiKey, personaID string) (*Persona, error) {
	var p Persona
	err := c.do(ctx, apiKey, "get persona", http.MethodGet, personaPath(personaID), nil, &p)
	return checkPersona("get persona", &p, err)
}

// AttachNumbers attaches numbers to a persona and returns the persona after it.
func (c *Client) AttachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*Persona, error) {
	var p Persona
	body := map[string][]string{"inbound_numbers": numbers}
	err := c.do(ctx, apiKey, "attach numbers", http.MethodPost, personaPath(personaID)+"/inbound/attach", body, &p)
	return checkPersona("attach numbers", &p, err)
}

// DetachNumbers detaches numbers from a persona and returns the persona after it.
// Detaching a number that is not attached is a no-op on Bland's side.
func (c *Client) DetachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*Persona, error) {
	var p Persona
	body := map[string][]string{"inbound_numbers": numbers}
	err := c.do(ctx, apiKey, "detach numbers", http.MethodPost, personaPath(personaID)+"/inbound/detach", body, &p)
	return checkPersona("detach numbers", &p, err)
}

// UpdateNumberSettings sets (or, with nil, clears) the per-number settings of a
// number attached to the persona and returns the number's record.
func (c *Client) UpdateNumberSettings(ctx context.Context, apiKey, personaID, number string, s *Settings) (*InboundNumber, error) {
	var n InboundNumber
	if s.IsEmpty() {
		s = nil
	}
	body := map[string]*Settings{"persona_settings": s}
	path := personaPath(personaID) + "/inbound/" + url.PathEscape(number) + "/settings"
	if err := c.do(ctx, apiKey, "update number settings", http.MethodPatch, path, body, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// ListPersonas reads every persona the key can see, page by page (100 a
// page, Bland's largest). The operator uses it only to say where a number
// that left a persona went.
func (c *Client) ListPersonas(ctx context.Context, apiKey string) ([]Persona, error) {
	var all []Persona
	for page := 1; ; page++ {
		var got []Persona
		path := fmt.Sprintf("/v1/personas?page=%d&limit=%d", page, listPageSize)
		if err := c.do(ctx, apiKey, "list personas", http.MethodGet, path, nil, &got); err != nil {
			return nil, err
		}
		all = append(all, got...)
		if len(got) < listPageSize || page >= maxListPages {
			return all, nil
		}
	}
}

const (
	listPageSize = 100
	// maxListPages bounds a list against an answer that never ends.
	maxListPages = 100
)

// CreatePersona creates an empty persona. The operator never creates or
// deletes personas; the contract check does, for a persona of its own.
func (c *Client) CreatePersona(ctx context.Context, apiKey, name string) (*Persona, error) {
	var p Persona
	err := c.do(ctx, apiKey, "create persona", http.MethodPost, "/v1/personas", map[string]string{"name": name}, &p)
	return checkPersona("create persona", &p, err)
}

// DeletePersona deletes a persona. Without force Bland refuses while a
// number is attached (PERSONA_IN_USE, the numbers in the error's Details).
func (c *Client) DeletePersona(ctx context.Context, apiKey, personaID string, force bool) error {
	var ignored json.RawMessage
	return c.do(ctx, apiKey, "delete persona", http.MethodDelete, personaPath(personaID)+"?force="+strconv.FormatBool(force), nil, &ignored)
}

func personaPath(id string) string {
	return "/v1/personas/" + url.PathEscape(id)
}

// checkPersona turns a 2xx answer without a persona into a transient error, so
// that a caller never mistakes an empty answer for "no numbers attached".
func checkPersona(op string, p *Persona, err error) (*Persona, error) {
	if err != nil {
		return nil, err
	}
	if p.ID == "" {
		return nil, &Error{Kind: KindTransient, Op: op, Message: "response has no persona id"}
	}
	return p, nil
}

// envelope is Bland's response shape: data on success, errors on failure.
type envelope struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Error   string         `json:"error"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"errors"`
}

func (c *Client) do(ctx context.Context, apiKey, op, method, path string, body, out any) error {
	a := c.accountOf(sha256.Sum256([]byte(apiKey)))
	if err := c.awaitTurn(ctx, op, a); err != nil {
		return err
	}
	if err := lastLook(ctx); err != nil {
		return err
	}

	var reader io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return &Error{Kind: KindInvalid, Op: op, Message: err.Error()}
		}
		reader = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return &Error{Kind: KindInvalid, Op: op, Message: err.Error()}
	}
	req.Header.Set("authorization", apiKey)
	req.Header.Set("accept", "application/json")
	req.Header.Set("user-agent", "bland-operator")
	if body != nil {
		req.Header.Set("content-type", "application/json")
	}

	started := c.now()
	err = c.send(req, op, apiKey, a, out)
	if c.observe != nil {
		c.observe(op, err, c.now().Sub(started))
	}
	if c.account != nil {
		name, ratio := c.paceRatio(a)
		c.account(name, err, ratio)
	}
	return err
}

// send makes the HTTP call and decodes its answer.
func (c *Client) send(req *http.Request, op, apiKey string, a *account, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Kind: KindTransient, Op: op, Message: networkMessage(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return &Error{Kind: KindTransient, Op: op, StatusCode: resp.StatusCode, Message: "reading response: " + networkMessage(err)}
	}
	if int64(len(raw)) > c.maxBytes {
		return &Error{Kind: KindTransient, Op: op, StatusCode: resp.StatusCode, Message: fmt.Sprintf("response larger than %d bytes", c.maxBytes)}
	}

	if resp.StatusCode == http.StatusTooManyRequests && aboutANumber(raw) {
		// Bland also answers 429 for a number it will not serve ("This
		// number is blacklisted"): the number's refusal, not the pace.
		c.speedUp(a)
		err := decode(op, resp.StatusCode, raw, apiKey, out)
		if be, ok := AsError(err); ok {
			be.Kind = KindInvalid
		}
		return err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		wait := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		c.block(a, wait)
		c.slowDown(a)
		return &Error{Kind: KindRateLimited, Op: op, StatusCode: resp.StatusCode, Message: "rate limited by Bland", RetryAfter: wait}
	}
	c.speedUp(a)
	return decode(op, resp.StatusCode, raw, apiKey, out)
}

// decode classifies an answer, HTTP status first and error code second, and
// fills out from the envelope's data on success.
func decode(op string, status int, raw []byte, apiKey string, out any) error {
	var env envelope
	jsonErr := json.Unmarshal(raw, &env)
	e := &Error{Op: op, StatusCode: status}
	if jsonErr == nil && len(env.Errors) > 0 {
		e.Code = clean(env.Errors[0].Error, apiKey)
		e.Message = clean(env.Errors[0].Message, apiKey)
		e.Details = env.Errors[0].Details
	}
	ok := status >= 200 && status < 300
	switch {
	case ok && jsonErr != nil:
		e.Kind, e.Message = KindTransient, "response is not a JSON envelope"
	case len(env.Errors) > 0 && agentRefusals[e.Code]:
		e.Kind = KindAgentRefused
	case ok && len(env.Errors) > 0:
		e.Kind = kindOfCode(e.Code, KindTransient)
	case ok:
		if len(env.Data) == 0 || string(env.Data) == "null" {
			return &Error{Kind: KindTransient, Op: op, StatusCode: status, Message: "response has no data"}
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return &Error{Kind: KindTransient, Op: op, StatusCode: status, Message: "response data does not match the API: " + clean(err.Error(), apiKey)}
		}
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = KindUnauthorized
	case status == http.StatusNotFound:
		e.Kind = kindOfCode(e.Code, KindNotFound)
	case status == http.StatusRequestTimeout || status >= 500:
		e.Kind = KindTransient
	default:
		e.Kind = kindOfCode(e.Code, KindInvalid)
	}
	if e.Message == "" && e.Code == "" {
		e.Message = "unexpected response"
		if jsonErr != nil {
			e.Message = "unexpected response that is not JSON"
		}
	}
	return e
}

// kindOfCode maps Bland's error codes. Only PERSONA_NOT_FOUND is documented;
// the rest are recognised by the words they contain. A number is "not owned"
// only when the code says the number is unknown to the account; a malformed
// number (INVALID_PHONE_NUMBER) is an invalid request like any other.
func kindOfCode(code string, fallback Kind) Kind {
	c := strings.ToUpper(code)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(c, w) {
				return true
			}
		}
		return false
	}
	switch {
	case c == "PERSONA_NOT_FOUND":
		return KindNotFound
	case has("UNAUTHORIZED", "FORBIDDEN", "API_KEY"):
		return KindUnauthorized
	case has("NOT_ATTACHED"):
		// The number left the persona between our read and our write: read again.
		return KindTransient
	case has("NUMBER") && has("NOT_FOUND", "NOT_OWNED", "UNKNOWN", "NOT_IN_ACCOUNT"):
		return KindNumberNotOwned
	case has("RATE_LIMIT"):
		return KindTransient
	}
	return fallback
}

// clean keeps a message from Bland short, valid UTF-8 and free of the key.
func clean(s, apiKey string) string {
	s = strings.ToValidUTF8(s, "?")
	if apiKey != "" {
		s = strings.ReplaceAll(s, apiKey, "[redacted]")
	}
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "") + "..."
	}
	return s
}

// networkMessage describes a transport failure without the request URL noise.
func networkMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// parseRetryAfter reads Retry-After in seconds or as an HTTP date. A missing or
// unreadable value waits one second; a wait is never longer than an hour.
func parseRetryAfter(v string, now time.Time) time.Duration {
	wait := time.Second
	if v = strings.TrimSpace(v); v != "" {
		var secs int64
		if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
			wait = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			wait = t.Sub(now)
		}
	}
	return min(max(wait, time.Second), time.Hour)
}

// maxWaitInCall is the longest Retry-After, or wait for the account's next
// token, a call waits out before it is sent; a longer one fails the call at
// once (RateLimited or Paced, not sent), and the caller retries after it.
const maxWaitInCall = 2 * time.Second

// awaitTurn waits for the account's turn: Bland's Retry-After, then a token
// of the account's bucket, then a Retry-After that came meanwhile. It tells
// ObserveWait how long the call waited or, when it gives its worker back
// (Paced, RateLimited: not sent), how long its work is put off.
func (c *Client) awaitTurn(ctx context.Context, op string, a *account) error {
	var waited time.Duration
	err := c.waitOutBlock(ctx, op, a, &waited)
	if err == nil {
		err = c.takeTurn(ctx, op, a, &waited)
	}
	if err == nil {
		err = c.waitOutBlock(ctx, op, a, &waited)
	}
	if c.wait != nil && waited > 0 {
		c.wait(c.accountName(a), waited)
	}
	return err
}

// waitOutBlock waits out Bland's Retry-After when it ends within
// maxWaitInCall (calls of one pass, a read then an attach, go one after the
// other instead of failing in turn), and otherwise fails the call at once,
// not sent. It adds the wait, or the time put off, to waited.
func (c *Client) waitOutBlock(ctx context.Context, op string, a *account, waited *time.Duration) error {
	wait := c.blockedFor(a)
	if wait <= 0 {
		return nil
	}
	*waited += wait
	if wait <= maxWaitInCall && sleep(ctx, wait) {
		return nil
	}
	return &Error{Kind: KindRateLimited, Op: op, Message: "waiting for Bland's Retry-After", RetryAfter: wait, NotSent: true}
}

func (c *Client) blockedFor(a *account) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(a.blockedUntil.Sub(c.now()), 0)
}

func (c *Client) block(a *account, wait time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until := c.now().Add(wait); until.After(a.blockedUntil) {
		a.blockedUntil = until
	}
}

// sleep waits d, and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
