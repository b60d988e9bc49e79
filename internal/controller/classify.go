package controller

import (
	"errors"
	"fmt"
	"time"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
)

// readiness is how the binding stands, in kstatus terms.
type readiness int

const (
	ready            readiness = iota // Ready=True
	progressing                       // Reconciling=True: retrying on its own
	stalled                           // Stalled=True: needs a person
	suspendedInSync                   // suspended, and nothing would change
	suspendedPending                  // suspended, with changes waiting
)

// verdict is what a failure means for the binding: how it stands, why, and
// when to look again.
type verdict struct {
	state   readiness
	reason  string
	message string
	// retryAfter, when set, is exactly when to look again (Retry-After, or the
	// minute a missing Secret waits); zero with state progressing means the
	// workqueue's backoff; zero with state stalled means the resync interval.
	retryAfter time.Duration
}

// classify is the one place that maps an error to a verdict. Messages are
// stable, so a retry that fails the same way writes no status: they carry no
// remaining wait, no address and no timestamp.
func classify(err error, credentials string) verdict {
	var cred *errCredentials
	if errors.As(err, &cred) {
		return verdict{stalled, v1alpha1.ReasonCredentialsNotFound, cred.msg, credentialsRetry}
	}
	var denied *errNotPermitted
	if errors.As(err, &denied) {
		return verdict{state: stalled, reason: v1alpha1.ReasonAccountNotPermitted, message: denied.msg}
	}
	be, ok := bland.AsError(err)
	if !ok {
		return verdict{state: progressing, reason: v1alpha1.ReasonAPIError, message: "the last attempt failed; retrying with backoff (see the operator log)"}
	}
	switch be.Kind {
	case bland.KindUnauthorized:
		return verdict{state: stalled, reason: v1alpha1.ReasonUnauthorized, message: fmt.Sprintf("Bland rejected the API key from %s (%s)", credentials, blandFailure(be))}
	case bland.KindNotFound:
		return verdict{state: stalled, reason: v1alpha1.ReasonPersonaNotFound, message: "the persona does not exist or the API key may not see it"}
	case bland.KindNumberNotOwned:
		return verdict{state: stalled, reason: v1alpha1.ReasonNumberNotOwned, message: blandFailure(be)}
	case bland.KindInvalid:
		return verdict{state: stalled, reason: v1alpha1.ReasonRequestRejected, message: "Bland refused the request: " + blandFailure(be)}
	case bland.KindRateLimited:
		return verdict{progressing, v1alpha1.ReasonRateLimited, "Bland asked to slow down (HTTP 429); waiting for its Retry-After", be.RetryAfter}
	}
	return verdict{state: progressing, reason: v1alpha1.ReasonAPIError, message: "Bland did not answer properly (" + blandFailure(be) + "); retrying with backoff"}
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
