package controller

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/plan"
)

// outcome is what one sync did and learned. Status is computed from the
// snapshot and the outcome alone.
type outcome struct {
	obs       observation
	owned     ownership
	applied   map[string]*bland.Settings
	conflicts conflictSet
	// lostPersona: an older binding holds the whole persona (exclusive).
	lostPersona bool
	// protected are attached numbers other bindings list; never swept.
	protected  map[string]bool
	notOwned   sets.Set[string]
	plan       plan.Plan
	handedOver map[string]string // number -> the binding that took it
	// pendingDetach wait for a person's approval (the detach limit).
	pendingDetach []string
	// pendingLimit is the limit they exceed.
	pendingLimit int
	// changed says the persona, or who owns its numbers, changed.
	changed bool
	err     error
}

// sync observes the persona, plans and, unless suspended, acts. It never
// changes snap; what it did is in the outcome.
func (r *PersonaBindingReconciler) sync(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding, c conflictSet, lostPersona, readFirst bool) *outcome {
	out := &outcome{
		obs:         fromRecord(&snap.Status),
		owned:       ownershipOf(&snap.Status),
		applied:     appliedSettings(&snap.Status),
		conflicts:   c,
		lostPersona: lostPersona,
		notOwned:    sets.New[string](),
		handedOver:  map[string]string{},
	}
	out.err = r.observePlanAct(ctx, w, snap, out, readFirst)
	if out.obs.complete {
		desired := sets.New(snap.Spec.InboundNumbers...)
		out.owned.settle(out.obs, func(n string) bool {
			return desired.Has(n) && c[n] == "" && !snap.Spec.Suspend && out.handedOver[n] == ""
		})
		for n := range out.applied {
			if _, attached := out.obs.numbers[n]; !attached {
				delete(out.applied, n) // a detach clears settings
			}
		}
	}
	return out
}

func (r *PersonaBindingReconciler) observePlanAct(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding, out *outcome, readFirst bool) error {
	key, err := r.readAPIKey(ctx, snap)
	if err != nil {
		return err
	}
	id := snap.Spec.PersonaID
	if readFirst {
		p, err := r.Bland.GetPersona(ctx, key, id)
		if err != nil {
			return err
		}
		out.obs.observe(p)
		r.personas.saw(id, snap.UID)
	}
	read := out.obs.clone()
	sweep := snap.Spec.Exclusive && !out.lostPersona && out.obs.complete
	if sweep {
		if out.protected, err = r.listedElsewhere(ctx, snap, keys(out.obs.numbers)); err != nil {
			return err
		}
	}
	out.plan = plan.Compute(plan.Input{
		Desired:    snap.Spec.InboundNumbers,
		Conflicted: conflictedNumbers(out.conflicts),
		Want:       wantedSettings(&snap.Spec),
		Bound:      out.owned.list(),
		Applied:    out.applied,
		Observed:   out.obs.numbers,
		Complete:   out.obs.complete,
		Exclusive:  sweep,
		Protected:  out.protected,
	})
	if snap.Spec.Suspend {
		return nil
	}
	if err := r.passOn(ctx, snap, out); err != nil {
		return err
	}
	r.holdBackDetaches(snap, out)
	found := findDrift(snap, read, out)
	if err := r.act(ctx, w, snap, key, out); err != nil {
		return err
	}
	r.reportDrift(snap, found)
	return nil
}

// passOn hands the owned numbers of the detach list to other bindings of the
// persona that list them and can hold them: they stay attached, with their
// settings, and change owner. The rest stay in the detach list.
func (r *PersonaBindingReconciler) passOn(ctx context.Context, snap *v1alpha1.PersonaBinding, out *outcome) error {
	var owned, swept []string
	for _, n := range out.plan.Detach {
		if out.owned.owns(n) {
			owned = append(owned, n)
		} else {
			swept = append(swept, n)
		}
	}
	handed, rest, err := r.handOver(ctx, snap, owned)
	if err != nil {
		return err
	}
	for n, taker := range handed {
		out.owned.release(n)
		out.handedOver[n] = taker
		out.changed = true
	}
	detach := slices.Concat(rest, swept)
	slices.Sort(detach)
	out.plan.Detach = detach
	return nil
}

// act makes the calls of the plan: detach, then attach (both split past the
// batch size), then the settings. Each answer becomes the new observation.
func (r *PersonaBindingReconciler) act(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding, key string, out *outcome) error {
	id := snap.Spec.PersonaID
	if err := r.recordIntent(ctx, w, snap, out); err != nil {
		return err
	}
	for batch := range slices.Chunk(out.plan.Detach, r.batchSize()) {
		out.changed = true
		p, err := r.Bland.DetachNumbers(ctx, key, id, batch)
		if err != nil {
			return err
		}
		out.obs.observe(p)
		out.owned.release(batch...)
		r.event(snap, corev1.EventTypeNormal, "Detached", "Detach", "Detached %s from persona %s", listNumbers(batch), id)
	}
	for batch := range slices.Chunk(out.plan.Attach, r.batchSize()) {
		out.changed = true
		if err := r.attach(ctx, snap, key, out, batch); err != nil {
			return err
		}
	}
	for _, change := range out.plan.Settings {
		if _, attached := out.obs.numbers[change.Number]; !attached {
			continue // its attach was refused
		}
		out.changed = true
		n, err := r.Bland.UpdateNumberSettings(ctx, key, id, change.Number, change.Settings)
		if err != nil {
			return err
		}
		out.obs.numbers[change.Number] = n.PersonaSettings
		if change.Settings.IsEmpty() {
			delete(out.applied, change.Number)
			r.event(snap, corev1.EventTypeNormal, "SettingsCleared", "UpdateSettings", "Cleared the settings of %s on persona %s", change.Number, id)
		} else {
			out.applied[change.Number] = change.Settings
			r.event(snap, corev1.EventTypeNormal, "SettingsApplied", "UpdateSettings", "Applied pathway %q to %s on persona %s", change.Settings.PathwayID, change.Number, id)
		}
	}
	return nil
}

// recordIntent writes, before the first write to Bland, what is about to
// change: the numbers about to be attached are claimed (with the finalizer
// first, under Detach), and the status says Reconciling. A crash between
// Bland's answers and the final status write then leaves no attached number
// that no record knows about, and no record the next reconcile would trust
// while it claims a number that was detached: it reads the persona first.
func (r *PersonaBindingReconciler) recordIntent(ctx context.Context, w *writer, snap *v1alpha1.PersonaBinding, out *outcome) error {
	var newly []string
	for _, n := range out.plan.Attach {
		if !out.owned.owns(n) {
			newly = append(newly, n)
		}
	}
	if len(newly) == 0 && len(out.plan.Detach) == 0 {
		return nil
	}
	out.owned.claim(newly...)
	if err := w.ensureFinalizer(ctx, out.owned); err != nil {
		return err
	}
	var doing []string
	if len(newly) > 0 {
		doing = append(doing, "attaching "+listNumbers(newly))
	}
	if len(out.plan.Detach) > 0 {
		doing = append(doing, "detaching "+listNumbers(out.plan.Detach))
	}
	st := *w.current.Status.DeepCopy()
	st.ObservedGeneration = snap.Generation
	st.BoundNumbers = out.owned.list()
	setConditions(&st, snap.Generation, progressing, v1alpha1.ReasonProgressing, strings.Join(doing, "; "))
	if err := w.patchStatus(ctx, st); err != nil {
		return fmt.Errorf("recording the change about to be made: %w", err)
	}
	return nil
}

// attach attaches one batch. Numbers Bland refuses as not in the account are
// set aside (and reported) and the rest attached. When Bland's answer does not
// name them, the batch is split in halves until it does.
func (r *PersonaBindingReconciler) attach(ctx context.Context, snap *v1alpha1.PersonaBinding, key string, out *outcome, batch []string) error {
	p, err := r.Bland.AttachNumbers(ctx, key, snap.Spec.PersonaID, batch)
	if bland.KindOf(err) == bland.KindNumberNotOwned {
		refused := numbersNamedIn(err.Error(), batch)
		switch {
		case len(refused) > 0:
			out.notOwned.Insert(refused...)
			rest := slices.DeleteFunc(slices.Clone(batch), out.notOwned.Has)
			if len(rest) == 0 {
				return nil
			}
			return r.attach(ctx, snap, key, out, rest)
		case len(batch) == 1:
			out.notOwned.Insert(batch[0])
			return nil
		default:
			half := len(batch) / 2
			if err := r.attach(ctx, snap, key, out, batch[:half]); err != nil {
				return err
			}
			return r.attach(ctx, snap, key, out, batch[half:])
		}
	}
	if err != nil {
		return err
	}
	out.obs.observe(p)
	r.event(snap, corev1.EventTypeNormal, "Attached", "Attach", "Attached %s to persona %s", listNumbers(batch), snap.Spec.PersonaID)
	r.pokeOwnersElsewhere(ctx, snap, batch)
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

func (r *PersonaBindingReconciler) batchSize() int {
	if r.AttachBatchSize > 0 {
		return r.AttachBatchSize
	}
	return 100
}

func (r *PersonaBindingReconciler) event(pb *v1alpha1.PersonaBinding, kind, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pb, nil, kind, reason, action, note, args...)
	}
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

// listNumbers keeps messages short: at most ten numbers, then a count.
func listNumbers(nums []string) string {
	if len(nums) <= 10 {
		return strings.Join(nums, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(nums[:10], ", "), len(nums)-10)
}
