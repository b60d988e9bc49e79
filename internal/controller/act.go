package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// recordIntent writes, before the first call, the intent of each binding
// whose attaches may give it a number its record lacks, in one metadata
// patch with the finalizer: the numbers, and the deadline by
// which such a call can no longer land. A crash, a stop or a new leader then
// finds on the object what may have landed unrecorded. An intent still
// pending that already covers the call is not written again. Nothing is
// written when no call will be made. The patch carries the resourceVersion:
// a conflict retries the pass.
func (r *PersonaReconciler) recordIntent(ctx context.Context, p *pass) error {
	if p.heard.Halted() {
		return nil
	}
	return p.eachBinding(func(b *persona.Binding) error {
		gains := persona.Gains(p.plan, b)
		if len(gains) == 0 || b.KeyGroup == "" {
			return nil
		}
		// A call starting now is given up by the API timeout (the grace, at
		// least) and may land one grace later; the deadline leaves a further
		// grace, so that retries within it need no new write.
		now := p.r.now()
		in, write := persona.NextIntent(p.latest(b), gains, p.heard.Obs.Unsettled, now.Add(2*p.r.grace()), now.Add(3*p.r.grace()))
		if !write {
			return nil
		}
		return r.writeIntent(ctx, p, b, in)
	})
}

// writeIntent patches the binding's intent annotation, with the finalizer
// (a live binding may come to hold numbers).
func (r *PersonaReconciler) writeIntent(ctx context.Context, p *pass, b *persona.Binding, in persona.Intent) error {
	if err := r.writeMetadata(ctx, p, b, &in, true); err != nil {
		return fmt.Errorf("recording the calls about to be made for %s: %w", b.Key(), err)
	}
	p.wroteIntent[b.Key()] = true
	return nil
}

// adoptLegacyIntents gives an intent to each binding an earlier release left
// mid-change (see persona.LegacyIntent), before anything is decided: its
// calls may still land, for one deadline from now.
func (r *PersonaReconciler) adoptLegacyIntents(ctx context.Context, p *pass) error {
	return p.eachBinding(func(b *persona.Binding) error {
		nums, legacy := persona.LegacyIntent(b.Object)
		if !legacy {
			return nil
		}
		until := p.now.Add(2 * r.grace()).Truncate(time.Second).Add(time.Second)
		if err := r.writeMetadata(ctx, p, b, &persona.Intent{Seq: 1, Numbers: nums, Until: until}, false); err != nil {
			return fmt.Errorf("recording the calls an earlier release may have left in flight for %s: %w", b.Key(), err)
		}
		b.Object = p.latest(b) // the pass plans from the binding as it now is
		persona.InDoubt(b.Object, p.now, p.heard.Obs.Unsettled)
		return nil
	})
}

// act makes the plan's calls: detach, then attach (numbers Bland refused
// before last), each grouped by API key and split past the batch size, then
// the settings. Each answer becomes the
// new observation. Once the manager is stopping, no new call starts.
func (r *PersonaReconciler) act(ctx context.Context, stopping <-chan struct{}, p *pass) {
	halted := func() bool { return closed(stopping) || p.heard.Halted() }
	var movedTo map[string]string
	if !halted() {
		movedTo = r.whereDrifted(ctx, p)
	}
	for _, group := range p.byKey(p.plan.Detach) {
		for batch := range slices.Chunk(group, r.batchSize()) {
			if halted() {
				return
			}
			r.detach(ctx, p, batch)
		}
	}
	// Numbers Bland refused before go in calls of their own, after the
	// others: a second refusal never holds back the numbers it accepts.
	fresh, retried := persona.SplitRetries(p.plan.Attach, p.bindings)
	for _, moves := range [][]persona.Move{fresh, retried} {
		for _, group := range p.byKey(moves) {
			for batch := range slices.Chunk(group, r.batchSize()) {
				if halted() {
					return
				}
				r.attach(ctx, p, batch, halted)
			}
		}
	}
	for _, c := range p.plan.Settings {
		if halted() {
			return
		}
		r.applySettings(ctx, p, c)
	}
	for i := range p.bindings {
		r.reportDrift(p.bindings[i].Object, p.plan.Drift[p.bindings[i].Key()], movedTo)
	}
}

// detach makes one detach call. Only an answer that shows the numbers gone
// counts: PERSONA_NOT_FOUND means "not found or access denied", so for a
// binding being deleted it is a reason to wait, never proof of a detach.
func (r *PersonaReconciler) detach(ctx context.Context, p *pass, batch []persona.Move) {
	nums := numbersOf(batch)
	got, err := r.detachCall(bland.WithLastLook(ctx, r.lastLook(ctx, p, nums)), p, batch, nums)
	if errors.Is(err, errPlanStale) {
		p.heard.Retry = err
		return
	}
	p.heed(r.answer(persona.Detach, p, batch, got), err)
	if err != nil {
		return
	}
	for key, ns := range byBinding(batch) {
		r.event(p.binding(key).Object, corev1.EventTypeNormal, "Detached", "Detach", "Detached %s from %s", persona.List(ns), persona.TargetName(p.id))
		r.warnApprovalWithoutNumbers(p, p.binding(key))
	}
}

// warnApprovalWithoutNumbers warns when detaches went past a binding's
// limit on an approval that names only its generation (the form of earlier
// releases, accepted for this one): such an approval lets past whatever
// that generation detaches, numbers that drifted after review included.
func (r *PersonaReconciler) warnApprovalWithoutNumbers(p *pass, b *persona.Binding) {
	mine := 0
	for _, m := range p.plan.Detach {
		if m.Binding == b.Key() {
			mine++
		}
	}
	if b.DetachLimit > 0 && mine > b.DetachLimit && persona.ApprovedByGenerationOnly(b.Object) {
		r.event(b.Object, corev1.EventTypeWarning, "ApprovalWithoutNumbers", "Detach",
			"The approval names generation %d but no numbers; the next release requires them: kubectl bland approve writes both", b.Object.Generation)
	}
}

// attach makes one attach call. When Bland refuses it, the numbers its
// answer names (or, when it names none, the ones found by splitting the
// batch) are set aside with Bland's words and the rest attached: one bad
// number never blocks the others.
func (r *PersonaReconciler) attach(ctx context.Context, p *pass, batch []persona.Move, halted func() bool) {
	nums := numbersOf(batch)
	got, err := r.attachCall(bland.WithLastLook(ctx, r.lastLook(ctx, p, nums)), p, batch, nums)
	if errors.Is(err, errPlanStale) {
		p.heard.Retry = err
		return
	}
	if err == nil || !refusal(err) {
		p.heed(r.answer(persona.Attach, p, batch, got), err)
		if err != nil {
			return
		}
		for key, ns := range byBinding(batch) {
			r.event(p.binding(key).Object, corev1.EventTypeNormal, "Attached", "Attach", "Attached %s to %s", persona.List(ns), persona.TargetName(p.id))
		}
		return
	}
	named := numbersNamedIn(err, nums)
	switch {
	case len(named) > 0:
		rest := slices.DeleteFunc(slices.Clone(batch), func(m persona.Move) bool { return slices.Contains(named, m.Number) })
		p.refuse(batch, named, err)
		if len(rest) > 0 && !halted() {
			r.attach(ctx, p, rest, halted)
		}
	case len(batch) == 1:
		p.refuse(batch, nums, err)
	default:
		half := len(batch) / 2
		r.attach(ctx, p, batch[:half], halted)
		if !halted() {
			r.attach(ctx, p, batch[half:], halted)
		}
	}
}

// applySettings sets or clears one number's overrides, unless its attach
// did not happen.
func (r *PersonaReconciler) applySettings(ctx context.Context, p *pass, c persona.SettingsChange) {
	if !p.heard.Obs.Has(c.Number) || p.heard.Obs.Unsettled[c.Number] {
		return
	}
	b := p.binding(c.Binding)
	move := []persona.Move{{Number: c.Number, Binding: c.Binding}}
	got, err := r.Bland.UpdateNumberSettings(ctx, p.keyFor(move[0]), p.id, c.Number, toBland(c.Settings))
	a := persona.Answer{Kind: persona.UpdateSettings, Group: b.KeyGroup, Moves: move}
	if err == nil {
		a.Settings = map[string]*persona.Settings{c.Number: persona.FromBland(got.PersonaSettings)}
	}
	p.heed(a, err)
	switch {
	case err != nil:
	case c.Settings == nil:
		r.event(b.Object, corev1.EventTypeNormal, "SettingsCleared", "UpdateSettings", "Cleared the settings of %s on persona %s", c.Number, p.id)
	default:
		r.event(b.Object, corev1.EventTypeNormal, "SettingsApplied", "UpdateSettings", "Applied pathway %q to %s on persona %s", c.Settings.PathwayID, c.Number, p.id)
	}
}

// answer describes an attach or detach of batch and the persona its
// answer showed (nil when it failed).
func (r *PersonaReconciler) answer(kind persona.CallKind, p *pass, batch []persona.Move, got *bland.Persona) persona.Answer {
	a := persona.Answer{Kind: kind, Group: p.binding(batch[0].Binding).KeyGroup, Moves: batch}
	if got != nil {
		a.Seen = seen(got)
	}
	return a
}

// refuse sets aside the numbers Bland refused to attach, with its words.
func (p *pass) refuse(batch []persona.Move, refused []string, err error) {
	why := map[string]persona.Refusal{}
	for _, n := range refused {
		why[n] = refusalOf(err)
	}
	p.heed(persona.Answer{Kind: persona.Attach, Moves: batch, Refused: why}, nil)
}

// byKey groups moves by the API key of the binding each is made for, so
// that bindings sharing a key (the usual case) share one call.
func (p *pass) byKey(moves []persona.Move) [][]persona.Move {
	groups := map[string][]persona.Move{}
	var order []string
	for _, m := range moves {
		g := p.binding(m.Binding).KeyGroup
		if g == "" {
			continue // no key: blocked, never called for
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], m)
	}
	out := make([][]persona.Move, 0, len(order))
	for _, g := range order {
		out = append(out, groups[g])
	}
	return out
}

func (p *pass) keyFor(m persona.Move) string { return p.keys[m.Binding] }

func numbersOf(moves []persona.Move) []string {
	out := make([]string, 0, len(moves))
	for _, m := range moves {
		out = append(out, m.Number)
	}
	return out
}

func byBinding(moves []persona.Move) map[string][]string {
	out := map[string][]string{}
	for _, m := range moves {
		out[m.Binding] = append(out[m.Binding], m.Number)
	}
	return out
}

func (r *PersonaReconciler) batchSize() int {
	if r.AttachBatchSize > 0 {
		return r.AttachBatchSize
	}
	return 100
}
