package controller

import "github.com/bland-operator/bland-operator/api/v1alpha1"

// facts are what decide needs to know about a binding, gathered by the caller.
type facts struct {
	// specChanged: the generation is not the one status describes.
	specChanged bool
	// requested: the reconcile-requested-at annotation has a new value.
	requested bool
	// conflictsChanged: the numbers older bindings hold differ from status.
	conflictsChanged bool
	// personaChanged: another binding changed the persona since this binding
	// last saw it.
	personaChanged bool
	// approved: a person approved the detaches waiting on this generation.
	approved bool
	// poked: the binding's account or namespace changed, so its credentials
	// may have changed.
	poked bool
	// resyncDue: the binding's resync (or credentials retry) time has come.
	resyncDue bool
	// lastReason is the Ready reason in status ("" if never synced).
	lastReason string
	suspend    bool
	exclusive  bool
}

// decision is what this reconcile does: call Bland at all, and if so, read
// the persona before planning.
type decision struct {
	sync      bool
	readFirst bool
}

// decide is pure: a binding in sync costs nothing until its spec, its
// annotation, its conflicts or its persona change, or its resync is due. It
// plans from its own record (no read) only when that record is known to be
// true: after a sync that succeeded or stopped at a conflict, or before any.
func decide(f facts) decision {
	var d decision
	switch {
	case f.specChanged, f.requested, f.conflictsChanged, f.personaChanged, f.approved, f.poked:
		d.sync = true
	case settled(f.lastReason):
		d.sync = f.resyncDue
	default: // in progress or failing transiently: keep going
		d.sync = true
	}
	if !d.sync {
		return d
	}
	recordTrusted := f.lastReason == "" || f.lastReason == v1alpha1.ReasonSynced || f.lastReason == v1alpha1.ReasonNumberConflict
	d.readFirst = !f.specChanged || // a resync exists to read
		f.requested || f.personaChanged || f.suspend ||
		f.exclusive || // a sweep must see what else is attached
		!recordTrusted
	return d
}

// settled reports whether a binding with this Ready reason waits for its
// resync rather than retrying on its own.
func settled(reason string) bool {
	switch reason {
	case v1alpha1.ReasonSynced, v1alpha1.ReasonSuspended, v1alpha1.ReasonNumberConflict,
		v1alpha1.ReasonNumberNotOwned, v1alpha1.ReasonUnauthorized, v1alpha1.ReasonPersonaNotFound,
		v1alpha1.ReasonRequestRejected, v1alpha1.ReasonCredentialsNotFound, v1alpha1.ReasonDetachLimitExceeded,
		v1alpha1.ReasonAccountNotPermitted:
		return true
	}
	return false
}
