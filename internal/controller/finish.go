package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/metrics"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// errNotConverged is returned when a pass ended without error but a binding
// still does not match its spec, so the work queue backs off and tries again.
var errNotConverged = errors.New("the persona does not match the spec yet")

// finish writes what the pass ended with: each binding's record, finalizer
// and status, computed from the shared outcome. Only what changed is patched.
// A deleted binding that owns nothing any more is released.
//
// A binding a number is handed to is written first, its record and its
// finalizer, and only then does the binding that hands it over let go: if
// the taker cannot be written (deleted since the snapshot), the pass stops
// with the giver still holding the number, and the next pass plans again.
// (Written in age order, a giver deleted with its namespace let go first,
// and a taker deleted a moment later left the number attached to nobody.)
func (r *PersonaReconciler) finish(ctx context.Context, p *pass) (ctrl.Result, error) {
	takers := map[string]bool{}
	for _, h := range p.plan.Handovers {
		takers[h.To] = true
	}
	for _, first := range []bool{true, false} {
		if err := p.eachBinding(func(b *persona.Binding) error {
			if takers[b.Key()] != first {
				return nil
			}
			return r.finishBinding(ctx, p, b)
		}); err != nil {
			return ctrl.Result{}, err
		}
	}
	return p.next()
}

// finishBinding writes one binding's outcome: its finalizer and intent, then
// its status; or, deleted and holding nothing, its release.
func (r *PersonaReconciler) finishBinding(ctx context.Context, p *pass, b *persona.Binding) error {
	o := persona.Finish(b, p.latest(b), p.owners, p.plan, p.heard.Obs, p.answers(b))
	if o.Release {
		if err := r.removeFinalizer(ctx, p, b); err != nil {
			return err
		}
		r.released(ctx, p, b)
		r.reportHandovers(p, b)
		return nil
	}
	if err := r.patchMetadata(ctx, p, b, o); err != nil {
		return err
	}
	before := persona.ReadyReason(b.Object)
	if err := r.patchStatus(ctx, p, b, o.Status); err != nil {
		return err
	}
	r.warnOnNewFailure(p.latest(b), before)
	r.reportHandovers(p, b)
	if o.Waiting {
		p.converged = false
	}
	return nil
}

// answers is what this pass's calls told it about the binding.
func (p *pass) answers(b *persona.Binding) persona.Answers {
	return persona.Answers{Wrote: p.wroteIntent[b.Key()], Lost: p.heard.Lost[b.Key()], LandBy: p.heard.GaveUp.Add(p.r.grace())}
}

// eachBinding runs write for every binding of the pass, one after the
// other, and joins their errors. (Side by side, up to eight at once, made a
// burst of new bindings faster but loaded the API server past what
// --max-concurrent-reconciles allows, and slowed every other reconcile.)
func (p *pass) eachBinding(write func(b *persona.Binding) error) error {
	var errs []error
	for i := range p.bindings {
		if err := write(&p.bindings[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// released says, once the finalizer is gone, why a deleted binding let go
// of numbers it did not detach: an event, and for a binding let go without
// a usable key, a Warning, a log line and the left-attached metric (counted
// here, so a retried pass never counts twice).
func (r *PersonaReconciler) released(ctx context.Context, p *pass, b *persona.Binding) {
	left := persona.Held(b.Object)
	switch {
	case len(left) == 0:
	case b.LetGo:
		why := p.letGo[b.Key()]
		log.FromContext(ctx).Info("Deleted binding let go without detaching", "binding", b.Key(), "persona", p.id, "numbers", left, "why", why)
		metrics.NumbersLeftAttached.Add(float64(len(left)))
		r.event(b.Object, corev1.EventTypeWarning, "NumbersLeftAttached", "Delete", "Left %s attached to %s: %s", persona.List(left), persona.TargetName(p.id), why)
	case b.Object.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan:
		r.event(b.Object, corev1.EventTypeNormal, "Orphaned", "Delete", "Left %s attached to %s (deletionPolicy Orphan)", persona.List(left), persona.TargetName(b.Object.Spec.PersonaID))
	case b.Object.Spec.Suspend:
		r.event(b.Object, corev1.EventTypeNormal, "Orphaned", "Delete", "Left %s attached to %s (suspended: nothing is changed in Bland)", persona.List(left), persona.TargetName(b.Object.Spec.PersonaID))
	}
}

// next turns the pass into a requeue: exactly Retry-After when rate limited,
// the queue's backoff for anything transient or not yet converged, the end
// of a grace while a call's outcome is unknown, a minute while a Secret is
// missing, and otherwise the persona's next resync.
func (p *pass) next() (ctrl.Result, error) {
	switch {
	case p.heard.RetryAfter > 0:
		return ctrl.Result{RequeueAfter: p.heard.RetryAfter}, nil
	case p.heard.Retry != nil:
		return ctrl.Result{}, fmt.Errorf("%s: %w", persona.TargetName(p.id), p.heard.Retry)
	}
	now := p.r.now()
	wait := p.r.memory.resyncIn(p.id, now)
	// Numbers an unanswered call may still change are read again when the
	// intent's deadline passes (a read then settles them).
	if at := persona.Deadline(p.latestObjects(), now); !at.IsZero() {
		return ctrl.Result{RequeueAfter: at.Sub(now) + 100*time.Millisecond}, nil
	}
	if !p.converged {
		return ctrl.Result{}, errNotConverged
	}
	for i := range p.bindings {
		if persona.ReadyReason(p.latest(&p.bindings[i])) == v1alpha1.ReasonCredentialsNotFound {
			wait = min(wait, credentialsRetry)
		}
	}
	return resyncAfter(wait), nil
}

// resyncAfter requeues a persona for its next resync at low priority, so
// that changed personas go first when many resyncs are due at once. It never
// requeues sooner than a second: a resync is never worth a busy loop.
func resyncAfter(d time.Duration) ctrl.Result {
	low := handler.LowPriority
	return ctrl.Result{RequeueAfter: max(d, time.Second), Priority: &low}
}

// latest is the server's latest copy of a binding we patched in this pass,
// else the snapshot. It is only the base of the next patch.
func (p *pass) latest(b *persona.Binding) *v1alpha1.PersonaBinding {
	if w := p.written[b.Key()]; w != nil {
		return w
	}
	return b.Object
}

func (p *pass) accept(b *persona.Binding, next *v1alpha1.PersonaBinding) {
	p.written[b.Key()] = next
	p.r.memory.wrote(next)
}

// patchMetadata writes the finalizer a live binding needs once it holds a
// number, and the intent the outcome asks for.
func (r *PersonaReconciler) patchMetadata(ctx context.Context, p *pass, b *persona.Binding, o persona.Outcome) error {
	if err := r.writeMetadata(ctx, p, b, o.Intent, len(o.Record) > 0); err != nil {
		return fmt.Errorf("writing the finalizer and intent of %s: %w", b.Key(), err)
	}
	return nil
}

// writeMetadata is the one writer of the intent annotation: it sets in
// (when not nil) and, when finalize, the finalizer a live binding needs, in
// one patch carrying the resourceVersion (so it cannot undo a
// concurrent change; a conflict retries the pass). Nothing is written when
// nothing changes.
func (r *PersonaReconciler) writeMetadata(ctx context.Context, p *pass, b *persona.Binding, in *persona.Intent, finalize bool) error {
	cur := p.latest(b)
	next := cur.DeepCopy()
	// Under Orphan too: the policy may be switched to Detach and the binding
	// deleted before any pass sees the switch, and only a finalizer already
	// there lets that deletion detach. Deleted under Orphan, the binding
	// is released without a call.
	if finalize && cur.DeletionTimestamp.IsZero() {
		controllerutil.AddFinalizer(next, v1alpha1.Finalizer)
	}
	if in != nil {
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, v1alpha1.IntentAnnotation, in.String())
	}
	if equality.Semantic.DeepEqual(cur.ObjectMeta, next.ObjectMeta) {
		return nil
	}
	return r.patchObject(ctx, p, b, next)
}

// patchObject writes next's metadata over the latest copy of the binding,
// with the resourceVersion, so it cannot undo a concurrent change.
func (r *PersonaReconciler) patchObject(ctx context.Context, p *pass, b *persona.Binding, next *v1alpha1.PersonaBinding) error {
	if err := r.patchMeta(ctx, p.latest(b), next); err != nil {
		return err
	}
	p.accept(b, next)
	return nil
}

// removeFinalizer lets the API server delete the binding. The pass decided
// the release from what Bland answered (the numbers are detached, handed
// over or let go); a conflict (the cached copy was behind) is retried here
// on a live read, not by a new pass, which would plan from the record this
// pass never rewrote and detach the same numbers again.
func (r *PersonaReconciler) removeFinalizer(ctx context.Context, p *pass, b *persona.Binding) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := p.latest(b)
		if !controllerutil.ContainsFinalizer(cur, v1alpha1.Finalizer) {
			return nil
		}
		next := cur.DeepCopy()
		controllerutil.RemoveFinalizer(next, v1alpha1.Finalizer)
		// Until the cache shows the binding gone, a pass reads it live
		// (accepted by patchObject): a cached copy that still has the
		// finalizer must not be planned from.
		err := r.patchObject(ctx, p, b, next)
		if apierrors.IsConflict(err) {
			live, getErr := r.readLive(ctx, cur)
			if getErr != nil {
				return client.IgnoreNotFound(getErr)
			}
			p.written[b.Key()] = live
		}
		return client.IgnoreNotFound(err)
	})
	if err != nil {
		return fmt.Errorf("removing the finalizer of %s: %w", b.Key(), err)
	}
	return nil
}

// patchStatus writes st, only when it differs from what the server has.
func (r *PersonaReconciler) patchStatus(ctx context.Context, p *pass, b *persona.Binding, st v1alpha1.PersonaBindingStatus) error {
	cur := p.latest(b)
	compiled := p.compiled[b.Key()]
	if equality.Semantic.DeepEqual(cur.Status, st) && compiled == "" {
		return nil
	}
	next := cur.DeepCopy()
	next.Status = st
	if err := r.patchStatusOf(ctx, cur, next, compiled); err != nil {
		return client.IgnoreNotFound(err)
	}
	p.accept(b, next)
	return nil
}

// recordMetrics publishes each binding's Ready status, reason and record.
func (p *pass) recordMetrics() {
	for i := range p.bindings {
		pb := p.latest(&p.bindings[i])
		ready, reason := "Unknown", ""
		if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
			ready, reason = string(c.Status), c.Reason
		}
		var deleting time.Time
		if pb.DeletionTimestamp != nil {
			deleting = pb.DeletionTimestamp.Time
		}
		metrics.Bindings.Set(metricsKey(pb), ready, reason, len(pb.Status.BoundNumbers), deleting)
	}
}

// latestObjects are the server's latest copies of the pass's bindings.
func (p *pass) latestObjects() []persona.PB {
	out := make([]persona.PB, 0, len(p.bindings))
	for i := range p.bindings {
		out = append(out, p.latest(&p.bindings[i]))
	}
	return out
}

// reportHandovers tells a binding, once its record is written, of each
// number this pass handed between it and another binding of the persona
// without a call: both sides get a HandedOver event.
func (r *PersonaReconciler) reportHandovers(p *pass, b *persona.Binding) {
	gave, took := map[string][]string{}, map[string][]string{}
	for _, h := range p.plan.Handovers {
		switch b.Key() {
		case h.From:
			gave[h.To] = append(gave[h.To], h.Number)
		case h.To:
			took[h.From] = append(took[h.From], h.Number)
		}
	}
	for to, nums := range gave {
		r.event(b.Object, corev1.EventTypeNormal, "HandedOver", "Handover", "Handed %s over to %s, which lists it (no call to Bland)", persona.List(nums), b.Describe(to))
	}
	for from, nums := range took {
		r.event(b.Object, corev1.EventTypeNormal, "HandedOver", "Handover", "Took over %s from %s, which no longer holds it (no call to Bland)", persona.List(nums), b.Describe(from))
	}
}
