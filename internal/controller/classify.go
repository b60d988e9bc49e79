package controller

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// classify is the one place that maps an error to a reason and a message;
// what the reason means (stalled or retrying, blocking) comes from the
// reason table in package persona. Messages are stable (no remaining wait,
// no address, no timestamp), so a status only changes when the reason or
// Bland's own words do.
func classify(err error, credentials string) *persona.Failure {
	var cred *errCredentials
	if errors.As(err, &cred) {
		f := persona.Fail(v1alpha1.ReasonCredentialsNotFound, cred.msg)
		f.RetryAfter = credentialsRetry
		return f
	}
	var denied *errNotPermitted
	if errors.As(err, &denied) {
		return persona.Fail(v1alpha1.ReasonAccountNotPermitted, denied.msg)
	}
	be, ok := bland.AsError(err)
	if !ok {
		return persona.Fail(v1alpha1.ReasonAPIError, "the last attempt failed; retrying with backoff (see the operator log)")
	}
	switch be.Kind {
	case bland.KindUnauthorized:
		if be.StatusCode == http.StatusForbidden {
			return persona.Fail(v1alpha1.ReasonUnauthorized, fmt.Sprintf("Bland refused a change with the API key from %s (%s): a key must have the admin, owner, operator or prompter role to change personas", credentials, blandFailure(be)))
		}
		return persona.Fail(v1alpha1.ReasonUnauthorized, fmt.Sprintf("Bland rejected the API key from %s (%s)", credentials, blandFailure(be)))
	case bland.KindNotFound:
		if strings.Contains(be.Op, "agent") {
			return persona.Fail(v1alpha1.ReasonAgentNotFound, "Bland has no such agent that the API key may see ("+blandFailure(be)+"): check spec.agentID; no call is made for it until the spec changes, a resync is due or a reconcile is requested")
		}
		return persona.Fail(v1alpha1.ReasonPersonaNotFound, "the persona does not exist or the API key may not see it")
	case bland.KindAgentRefused:
		return persona.Fail(v1alpha1.ReasonAgentRefused, "Bland refused to route numbers to the agent ("+blandFailure(be)+"): "+agentRemedy[be.Code])
	case bland.KindNumberNotOwned, bland.KindInvalid:
		return persona.Fail(v1alpha1.ReasonRequestRejected, "Bland refused the request: "+blandFailure(be))
	case bland.KindRateLimited:
		f := persona.Fail(v1alpha1.ReasonRateLimited, "Bland asked to slow down (HTTP 429); waiting for its Retry-After")
		f.RetryAfter = be.RetryAfter
		return f
	case bland.KindPaced:
		f := persona.Fail(v1alpha1.ReasonRateLimited, "waiting for its turn: the operator paces each Bland account's calls (--api-qps), and this account's calls are queued")
		f.RetryAfter = be.RetryAfter
		return f
	}
	return persona.Fail(v1alpha1.ReasonAPIError, "Bland did not answer properly ("+blandFailure(be)+"); retrying with backoff")
}

// refusal reports whether Bland definitely said no to the request itself: an
// answer with an error that is not about the key (401, 403), the persona
// (404) or the pace (a 429 the client did not find to name a number), and
// not a server failure. Nothing was changed.
func refusal(err error) bool {
	be, ok := bland.AsError(err)
	if !ok || be.StatusCode == 0 {
		return false
	}
	switch be.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return false
	}
	return be.Kind == bland.KindInvalid || be.Kind == bland.KindNumberNotOwned
}

// unanswered reports whether a call's answer never came (timeout, reset, no
// response): Bland may still apply it. A call the client never sent is not
// one of them.
func unanswered(err error) bool {
	be, ok := bland.AsError(err)
	return !ok || (be.StatusCode == 0 && !be.NotSent)
}

// notOwnedWords recognises Bland saying a number is not the account's. It
// only picks the reason shown; isolating the number never depends on it.
var notOwnedWords = regexp.MustCompile(`(?i)not (in|on|part of) (this|your|the) account|does not belong|doesn't belong|not owned|not_owned|not_in_account|invalid_inbound_numbers|number_not_found`)

// refusalOf is what Bland's refusal says about the numbers it names.
func refusalOf(err error) persona.Refusal {
	be, _ := bland.AsError(err)
	return persona.Refusal{Message: blandFailure(be), NotOwned: be.Kind == bland.KindNumberNotOwned || notOwnedWords.MatchString(be.Code+" "+be.Message)}
}

var e164 = regexp.MustCompile(`\+[1-9][0-9]{1,14}`)

// numbersNamedIn returns the numbers of batch that an error message names.
func numbersNamedIn(err error, batch []string) []string {
	var out []string
	for _, n := range e164.FindAllString(err.Error(), -1) {
		if slices.Contains(batch, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// blandFailure describes a failed call by its stable parts: the call, the
// HTTP status and Bland's error code and message. Network errors, whose text
// names ports, are described by their kind only.
func blandFailure(be *bland.Error) string {
	msg := be.Op
	if be.StatusCode == 0 {
		return msg + ": no answer"
	}
	msg += fmt.Sprintf(": HTTP %d", be.StatusCode)
	if be.Code != "" {
		msg += " " + be.Code
	}
	if be.Message != "" && be.Code != "" {
		msg += ": " + be.Message
	}
	return msg
}

// agentRemedy says, for each of Bland's refusals of an agent, what a person
// does about it. Nothing is retried before a resync or a requested
// reconcile; a staging refusal never falls back to production.
var agentRemedy = map[string]string{
	"NO_VERSIONS":                "the agent has no saved version; save one in Bland, then request a reconcile",
	"COMPILE_FAILED":             "Bland could not compile the agent; fix it in Bland, then request a reconcile",
	"ENTERPRISE_REQUIRED":        "staging needs Bland's enterprise plan; set spec.environment to production or upgrade the plan",
	"STAGING_NUMBER_UNSUPPORTED": "a number on dedicated infrastructure cannot answer on staging; route it to production",
	"AGENT_ENV_UNPINNED":         "nothing is published to the agent's staging environment; publish to staging, then request a reconcile",
	"AGENT_VARIABLE_UNRESOLVED":  "a variable of the agent's staging environment is not set; set it in Bland, then request a reconcile",
	"AGENT_SNAPSHOT_INVALID":     "the agent's staging snapshot is not usable; publish it again, then request a reconcile",
}
