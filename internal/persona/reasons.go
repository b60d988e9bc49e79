package persona

import (
	"slices"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// ReasonInfo is what one Ready reason means to the operator. The table below
// is the one place that says it: classification, the stalls a pass carries
// without a call, the key checks, the Warning events and the shipped alert
// (a test holds the alert to the table) all read it.
type ReasonInfo struct {
	// State is where a failure with this reason puts a binding.
	State Readiness
	// Blocks: the binding cannot hold numbers while it stands.
	Blocks bool
	// Carried: on a live binding whose spec has not changed, the stall is
	// kept by the next pass with no call, until a resync, a person or its
	// retry time looks again.
	Carried bool
	// Rechecked: the binding's key or account is read again on every pass,
	// since no watch tells the operator it was put right.
	Rechecked bool
	// Warns: entering this reason emits one Warning event.
	Warns bool
	// WriteClears: only a write that succeeds proves the stall over. Bland
	// reads an agent it does not have, or cannot take numbers, as an agent
	// with no numbers: a read proves nothing about it.
	WriteClears bool
}

var reasons = map[string]ReasonInfo{
	v1alpha1.ReasonSynced:              {State: Ready},
	v1alpha1.ReasonProgressing:         {State: Progressing},
	v1alpha1.ReasonDeleting:            {State: Progressing},
	v1alpha1.ReasonSuspended:           {State: SuspendedInSync},
	v1alpha1.ReasonAPIError:            {State: Progressing, Warns: true},
	v1alpha1.ReasonRateLimited:         {State: Progressing, Warns: true},
	v1alpha1.ReasonCredentialsNotFound: {State: Stalled, Blocks: true, Carried: true, Rechecked: true, Warns: true},
	v1alpha1.ReasonAccountNotPermitted: {State: Stalled, Blocks: true, Carried: true, Rechecked: true, Warns: true},
	v1alpha1.ReasonUnauthorized:        {State: Stalled, Blocks: true, Carried: true, Warns: true},
	v1alpha1.ReasonPersonaNotFound:     {State: Stalled, Blocks: true, Carried: true, Warns: true},
	v1alpha1.ReasonAgentNotFound:       {State: Stalled, Blocks: true, Carried: true, Warns: true, WriteClears: true},
	v1alpha1.ReasonAgentRefused:        {State: Stalled, Blocks: true, Carried: true, Warns: true, WriteClears: true},
	v1alpha1.ReasonNumberNotOwned:      {State: Stalled, Warns: true},
	v1alpha1.ReasonRequestRejected:     {State: Stalled, Warns: true},
	v1alpha1.ReasonNumberConflict:      {State: Stalled, Warns: true},
	v1alpha1.ReasonDetachLimitExceeded: {State: Stalled, Warns: true},
}

// Reason returns what the reason means; an unknown reason means nothing.
func Reason(reason string) ReasonInfo { return reasons[reason] }

// Fail is the failure the reason stands for, with the message.
func Fail(reason, message string) *Failure {
	info := reasons[reason]
	return &Failure{State: info.State, Reason: reason, Message: message, Blocks: info.Blocks}
}

// StalledReasons lists, sorted, the reasons that stall a binding.
func StalledReasons() []string {
	var out []string
	for r, info := range reasons {
		if info.State == Stalled {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}
