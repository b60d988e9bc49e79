package bland

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Kind classifies a failed call by what the caller should do about it.
type Kind string

const (
	// KindNotFound means the persona does not exist or the key may not see it.
	KindNotFound Kind = "NotFound"
	// KindUnauthorized means the key was rejected (401/403).
	KindUnauthorized Kind = "Unauthorized"
	// KindNumberNotOwned means a number is not in the account.
	KindNumberNotOwned Kind = "NumberNotOwned"
	// KindRateLimited means 429; wait RetryAfter before calling again with this key.
	KindRateLimited Kind = "RateLimited"
	// KindPaced means the call was not sent: its account's own pace (the
	// client's bucket for that key) gives it a turn only after RetryAfter.
	KindPaced Kind = "Paced"
	// KindTransient means 5xx, timeouts, resets, unreadable answers; retry with backoff.
	KindTransient Kind = "Transient"
	// KindInvalid means the request was refused as malformed (other 4xx).
	KindInvalid Kind = "Invalid"
	// KindAgentRefused means Bland refused to route numbers to an agent for
	// a reason of the agent's (no version, a failed compile, staging not
	// available): nothing was attached, and no number is at fault.
	KindAgentRefused Kind = "AgentRefused"
)

// Error is every failure the client returns. Its message never contains the
// API key.
type Error struct {
	Kind Kind
	// Op names the call, e.g. "attach numbers".
	Op string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Code is the first error code of Bland's error envelope, if any.
	Code string
	// Message is Bland's message or a description of what went wrong.
	Message string
	// RetryAfter is how long Bland asked to wait (KindRateLimited only).
	RetryAfter time.Duration
	// NotSent marks a call the client never sent (waiting out a 429, or its
	// own rate limit gave up): Bland cannot have applied it.
	NotSent bool
	// Details is the error object's details, as Bland sent it (for example
	// PERSONA_IN_USE's phone_numbers_using). It is not part of Error().
	Details map[string]any
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Op, e.Kind)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Kind == KindRateLimited || e.Kind == KindPaced {
		msg += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return msg
}

// KindOf returns the Kind of err, or KindTransient for errors the client did
// not classify.
func KindOf(err error) Kind {
	var be *Error
	if errors.As(err, &be) {
		return be.Kind
	}
	return KindTransient
}

// AsError returns err as an *Error, if it is one.
func AsError(err error) (*Error, bool) {
	var be *Error
	ok := errors.As(err, &be)
	return be, ok
}

// Outcome sorts the result of an HTTP call for metrics: success, client_error,
// server_error, rate_limited or network.
func Outcome(err error) string {
	be, ok := AsError(err)
	switch {
	case err == nil:
		return "success"
	case !ok:
		return "network"
	case be.Kind == KindRateLimited:
		return "rate_limited"
	case be.StatusCode == 0:
		return "network"
	case be.StatusCode >= 500 || (be.Kind == KindTransient && be.StatusCode < 400):
		return "server_error"
	}
	return "client_error"
}

// numberWords recognise an answer about one number rather than the pace: it
// says a number is blacklisted, or names one in E.164 form.
var numberWords = regexp.MustCompile(`(?i)blacklist|block ?list|\+[1-9][0-9]{7,14}`)

// aboutANumber reports whether a 429's body speaks of a number (its error
// code or message), which makes it a refusal of that number.
func aboutANumber(raw []byte) bool {
	var env envelope
	if json.Unmarshal(raw, &env) != nil || len(env.Errors) == 0 {
		return false
	}
	return numberWords.MatchString(env.Errors[0].Error + " " + env.Errors[0].Message)
}
