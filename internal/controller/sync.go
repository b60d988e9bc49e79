package controller

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/plan"
)

// syncState carries one sync's knowledge from observation to status.
type syncState struct {
	// base is the status last written to the API server in this reconcile.
	base      *v1alpha1.PersonaBinding
	obs       observation
	bound     map[string]bool
	applied   map[string]*bland.Settings
	conflicts conflictSet
	notOwned  map[string]bool
	plan      plan.Plan
	err       error
}

// sync observes the persona, plans, and (unless suspended) acts; then it
// computes status from what happened and says when to come back.
func (r *PersonaBindingReconciler) sync(ctx context.Context, pb *v1alpha1.PersonaBinding, conflicts conflictSet, base *v1alpha1.PersonaBinding) (ctrl.Result, error) {
	s := &syncState{
		base:      base,
		obs:       fromRecord(&pb.Status),
		bound:     toSet(pb.Status.BoundNumbers),
		applied:   appliedSettings(&pb.Status),
		conflicts: conflicts,
		notOwned:  map[string]bool{},
	}
	s.err = r.observePlanAct(ctx, pb, s)
	previous := readyReason(pb)
	setStatus(pb, s)
	r.warnOnNewFailure(pb, previous)
	return r.nextStep(pb, s)
}

func (r *PersonaBindingReconciler) observePlanAct(ctx context.Context, pb *v1alpha1.PersonaBinding, s *syncState) error {
	key, err := r.readAPIKey(ctx, pb)
	if err != nil {
		return err
	}
	if needsRead(pb) {
		p, err := r.Bland.GetPersona(ctx, key, pb.Spec.PersonaID)
		if err != nil {
			return err
		}
		s.obs.observe(p)
	}
	var protected map[string]bool
	if pb.Spec.Exclusive && s.obs.complete {
		if protected, err = r.listedElsewhere(ctx, pb, keys(s.obs.numbers)); err != nil {
			return err
		}
	}
	s.plan = plan.Compute(plan.Input{
		Desired:    pb.Spec.InboundNumbers,
		Conflicted: conflictedNumbers(s.conflicts),
		Want:       wantedSettings(&pb.Spec),
		Bound:      keys(s.bound),
		Applied:    s.applied,
		Observed:   s.obs.numbers,
		Complete:   s.obs.complete,
		Exclusive:  pb.Spec.Exclusive,
		Protected:  protected,
	})
	if pb.Spec.Suspend || s.plan.Empty() {
		return nil
	}
	return r.act(ctx, pb, key, s)
}

// needsRead says whether the persona must be read before planning. A binding
// whose record is trustworthy (in sync, or never synced) plans from status, so
// a spec change costs only the writes it needs; a resync, a requested
// reconcile, a suspended binding and any earlier failure read first.
func needsRead(pb *v1alpha1.PersonaBinding) bool {
	if pb.Spec.Suspend || pb.Annotations[v1alpha1.ReconcileRequestedAtAnnotation] != pb.Status.LastHandledReconcileAt {
		return true
	}
	if pb.Status.ObservedGeneration == pb.Generation {
		return true // nothing in the spec changed: this is a resync
	}
	switch readyReason(pb) {
	case "":
		// Never synced: attach is idempotent, so no read is needed, except in
		// exclusive mode, which must see what else is attached.
		return pb.Spec.Exclusive
	case v1alpha1.ReasonSynced, v1alpha1.ReasonNumberConflict:
		return false
	}
	return true
}

// act makes the calls of the plan: one detach, one attach (split past the
// batch size), then the settings. Each answer becomes the new observation.
func (r *PersonaBindingReconciler) act(ctx context.Context, pb *v1alpha1.PersonaBinding, key string, s *syncState) error {
	if err := r.ensureFinalizer(ctx, pb); err != nil {
		return err
	}
	id := pb.Spec.PersonaID
	for _, batch := range batches(s.plan.Detach, r.AttachBatchSize) {
		p, err := r.Bland.DetachNumbers(ctx, key, id, batch)
		if err != nil {
			return err
		}
		s.obs.observe(p)
		r.event(pb, corev1.EventTypeNormal, "Detached", "Detach", "Detached %s from persona %s", strings.Join(batch, ", "), id)
	}
	if err := r.recordIntent(ctx, pb, s); err != nil {
		return err
	}
	for _, batch := range batches(s.plan.Attach, r.AttachBatchSize) {
		if err := r.attach(ctx, pb, key, s, batch); err != nil {
			return err
		}
	}
	for _, change := range s.plan.Settings {
		if _, attached := s.obs.numbers[change.Number]; !attached {
			continue // its attach was refused
		}
		n, err := r.Bland.UpdateNumberSettings(ctx, key, id, change.Number, change.Settings)
		if err != nil {
			return err
		}
		s.obs.numbers[change.Number] = n.PersonaSettings
		if change.Settings.IsEmpty() {
			delete(s.applied, change.Number)
			r.event(pb, corev1.EventTypeNormal, "SettingsCleared", "UpdateSettings", "Cleared the settings of %s on persona %s", change.Number, id)
		} else {
			s.applied[change.Number] = change.Settings
			r.event(pb, corev1.EventTypeNormal, "SettingsApplied", "UpdateSettings", "Applied pathway %q to %s on persona %s", change.Settings.PathwayID, change.Number, id)
		}
	}
	return nil
}

// recordIntent writes, before attaching, that this binding is about to own the
// numbers and that its record is not to be trusted until the sync completes.
// Without it, a crash between Bland's answer and the status write would leave
// attached numbers that no ownership record knows about, never to be detached.
// The next reconcile sees Reconciling and reads the persona before planning.
func (r *PersonaBindingReconciler) recordIntent(ctx context.Context, pb *v1alpha1.PersonaBinding, s *syncState) error {
	var newly []string
	for _, n := range s.plan.Attach {
		if !s.bound[n] {
			newly = append(newly, n)
			s.bound[n] = true
		}
	}
	if len(newly) == 0 {
		return nil
	}
	pb.Status.ObservedGeneration = pb.Generation
	pb.Status.BoundNumbers = keys(s.bound)
	setConditions(pb, progressing, v1alpha1.ReasonProgressing, "attaching "+listNumbers(newly))
	if err := r.patchStatus(ctx, s.base, pb); err != nil {
		return fmt.Errorf("recording the numbers about to be attached: %w", err)
	}
	*s.base = *pb.DeepCopy()
	return nil
}

// attach attaches one batch. When Bland refuses numbers that are not in the
// account, those are set aside (and reported) and the rest attached.
func (r *PersonaBindingReconciler) attach(ctx context.Context, pb *v1alpha1.PersonaBinding, key string, s *syncState, batch []string) error {
	p, err := r.Bland.AttachNumbers(ctx, key, pb.Spec.PersonaID, batch)
	if bland.KindOf(err) == bland.KindNumberNotOwned {
		refused := numbersNamedIn(err.Error(), batch)
		if len(refused) == 0 {
			refused = batch
		}
		for _, n := range refused {
			s.notOwned[n] = true
		}
		rest := slices.DeleteFunc(slices.Clone(batch), func(n string) bool { return s.notOwned[n] })
		if len(rest) == 0 {
			return nil
		}
		batch = rest
		p, err = r.Bland.AttachNumbers(ctx, key, pb.Spec.PersonaID, batch)
	}
	if err != nil {
		return err
	}
	s.obs.observe(p)
	r.event(pb, corev1.EventTypeNormal, "Attached", "Attach", "Attached %s to persona %s", strings.Join(batch, ", "), pb.Spec.PersonaID)
	return nil
}

var e164 = regexp.MustCompile(`\+[1-9][0-9]{1,14}`)

// numbersNamedIn returns the numbers of batch that an error message names.
func numbersNamedIn(msg string, batch []string) []string {
	var out []string
	for _, n := range e164.FindAllString(msg, -1) {
		if slices.Contains(batch, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ensureFinalizer adds the finalizer just before the first write to Bland, so a
// binding that never reached Bland deletes cleanly even without credentials.
func (r *PersonaBindingReconciler) ensureFinalizer(ctx context.Context, pb *v1alpha1.PersonaBinding) error {
	if pb.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan || controllerutil.ContainsFinalizer(pb, v1alpha1.Finalizer) {
		return nil
	}
	before := pb.DeepCopy()
	controllerutil.AddFinalizer(pb, v1alpha1.Finalizer)
	if err := r.Patch(ctx, pb, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	return nil
}

// nextStep turns the outcome into a requeue: the resync interval when in sync
// or stalled, a minute while the Secret is missing, exactly Retry-After when
// rate limited, and the workqueue's backoff for anything transient.
func (r *PersonaBindingReconciler) nextStep(pb *v1alpha1.PersonaBinding, s *syncState) (ctrl.Result, error) {
	key := keyOf(pb)
	var cred *errCredentials
	be, isBland := bland.AsError(s.err)
	switch {
	case s.err == nil:
		return resyncAfter(r.schedule.after(key, jittered(resyncInterval(pb)))), nil
	case errors.As(s.err, &cred):
		return resyncAfter(r.schedule.after(key, credentialsRetry)), nil
	case isBland && be.Kind == bland.KindRateLimited:
		return ctrl.Result{RequeueAfter: be.RetryAfter}, nil
	case isBland && (be.Kind == bland.KindUnauthorized || be.Kind == bland.KindNotFound || be.Kind == bland.KindNumberNotOwned):
		return resyncAfter(r.schedule.after(key, jittered(resyncInterval(pb)))), nil
	}
	return ctrl.Result{}, fmt.Errorf("syncing persona %s: %w", pb.Spec.PersonaID, s.err)
}

// resyncAfter requeues a binding for its next resync at low priority, so that
// new and changed bindings go first when many resyncs are due at once.
func resyncAfter(d time.Duration) ctrl.Result {
	low := handler.LowPriority
	return ctrl.Result{RequeueAfter: d, Priority: &low}
}

func (r *PersonaBindingReconciler) event(pb *v1alpha1.PersonaBinding, kind, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pb, nil, kind, reason, action, note, args...)
	}
}

// warnOnNewFailure emits one Warning when the binding enters a failing state,
// not on every retry.
func (r *PersonaBindingReconciler) warnOnNewFailure(pb *v1alpha1.PersonaBinding, previous string) {
	reason := readyReason(pb)
	if reason == previous || reason == v1alpha1.ReasonSynced || reason == v1alpha1.ReasonSuspended {
		return
	}
	r.event(pb, corev1.EventTypeWarning, reason, "Sync", "%s", readyMessage(pb))
}

func batches(list []string, size int) [][]string {
	if len(list) == 0 {
		return nil
	}
	if size <= 0 {
		size = len(list)
	}
	var out [][]string
	for len(list) > size {
		out = append(out, list[:size])
		list = list[size:]
	}
	return append(out, list)
}

func toSet(list []string) map[string]bool {
	out := make(map[string]bool, len(list))
	for _, n := range list {
		out[n] = true
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func conflictedNumbers(c conflictSet) map[string]bool {
	out := make(map[string]bool, len(c))
	for n := range c {
		out[n] = true
	}
	return out
}
