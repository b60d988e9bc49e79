// Package controller is the imperative shell around package persona: it
// lists a persona's bindings, reads their keys and the persona, makes the
// calls the plan asks for, and patches what changed. Every decision lives in
// package persona.
package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// BlandAPI is the part of the Bland client the reconciler uses.
type BlandAPI interface {
	GetPersona(ctx context.Context, apiKey, personaID string) (*bland.Persona, error)
	AttachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*bland.Persona, error)
	DetachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*bland.Persona, error)
	UpdateNumberSettings(ctx context.Context, apiKey, personaID, number string, s *bland.Settings) (*bland.InboundNumber, error)
	ListPersonas(ctx context.Context, apiKey string) ([]bland.Persona, error)
	// The v2 Agents API, for AgentBindings.
	AgentNumbers(ctx context.Context, apiKey, agentID string) (*bland.AgentInbound, error)
	AttachToAgent(ctx context.Context, apiKey, agentID, env string, numbers []string) (*bland.AgentAttachment, error)
	DetachFromAgent(ctx context.Context, apiKey, agentID string, numbers []string) (int, error)
	// UseAccount tells the client the key's account: its name in metrics
	// (never the key) and its own rate, if it has one.
	UseAccount(apiKey string, account bland.Account)
}

// Request is the unit of work: one Bland persona. The work queue's own
// guarantees (one reconcile of a key at a time, backoff per key,
// de-duplication) serialize everything done to a persona.
type Request struct {
	PersonaID string
}

func (r Request) String() string { return persona.TargetName(r.PersonaID) }

// PersonaReconciler keeps the numbers of each Bland persona as all the
// PersonaBindings that name it say.
type PersonaReconciler struct {
	client.Client
	// APIReader reads straight from the API server: Secrets (so the manager
	// needs neither a Secret informer nor list/watch on Secrets), and a
	// binding when the cache may not hold our last write to it.
	APIReader client.Reader
	Bland     BlandAPI
	Recorder  events.EventRecorder
	// AttachBatchSize splits attach and detach calls past this many numbers.
	AttachBatchSize int
	// DefaultDetachLimit applies to bindings without spec.detachLimit (0: none).
	DefaultDetachLimit int32
	// NameOtherNamespaces lets statuses and events name bindings of other
	// namespaces (a single-team cluster). Off, the default, a tenant is told
	// a number is held "by a PersonaBinding in another namespace".
	NameOtherNamespaces bool
	// CallGrace is how long a call Bland never answered may still land: at
	// least the API timeout. Until it has passed, a read does not settle the
	// numbers of that call.
	CallGrace time.Duration
	// Clock tells the time (tests move it forward to make resyncs due).
	Clock clock.PassiveClock

	memory memory
	locks  keyedLocks
}

// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=personabindings/finalizers,verbs=update
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=agentbindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=agentbindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=personas.bland-operator.dev,resources=agentbindings/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one persona in line with all its bindings: snapshot,
// decide, act, then one status per binding.
func (r *PersonaReconciler) Reconcile(ctx context.Context, req Request) (ctrl.Result, error) {
	// A call in flight is never abandoned when the manager stops: it runs to
	// its answer (bounded by the API timeout) and is recorded, and graceful
	// shutdown waits for it before the Lease is released. stopping only
	// keeps new calls from starting.
	stopping := ctx.Done()
	ctx = context.WithoutCancel(ctx)

	defer r.serialize(req.PersonaID)()
	p, err := r.snapshot(ctx, req.PersonaID)
	if err != nil || len(p.bindings) == 0 {
		return ctrl.Result{}, err
	}
	if routing := p.personaName(); p.agent() && routing != "" {
		// The agent's numbers are its routing persona's: a pass of a
		// PersonaBinding naming that persona waits for this one.
		defer r.locks.lock("persona " + routing)()
	}
	defer p.recordMetrics()
	if err := r.adoptLegacyIntents(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	p.decide()
	if p.quiet() {
		return p.next()
	}
	p.useKeys(r.readKeys(ctx, p.bindings))
	r.teardowns(ctx, p)
	p.decide()
	if p.mustRead() || p.plan.NeedsRead {
		if closed(stopping) {
			// Stopping (or no longer leading): the next leader reads; this
			// pass has written nothing and starts no call.
			return ctrl.Result{}, nil
		}
		if !r.observe(ctx, p) {
			// A plan that needed a read is not applied without it: no
			// handover, claim or call; the records stay as they are, but
			// for deleted bindings that leave their numbers (Plan.Unread).
			p.plan = p.plan.Unread(p.bindings)
			return r.finish(ctx, p)
		}
		if err := r.addRivals(ctx, p, slices.Collect(maps.Keys(p.heard.Obs.Numbers))); err != nil {
			return ctrl.Result{}, err
		}
		p.decide()
	}
	if p.agent() && p.requested && p.heard.Obs.Fresh {
		p.plan = persona.Reattach(p.plan, p.owners, p.heard.Obs)
	}
	if err := r.recordIntent(ctx, p); err != nil {
		// No call is made: the claims already written go back in this
		// pass, so that no record lists a number nothing attached (with a
		// refused key, no read could clear it before the key came back).
		p.plan, p.heard.Retry = persona.Plan{}, err
		return r.finish(ctx, p)
	}
	r.act(ctx, stopping, p)
	return r.finish(ctx, p)
}

// serialize takes the lock of the target's agent, or of its persona, and
// returns its release.
func (r *PersonaReconciler) serialize(target string) func() {
	if agent, _, ok := persona.ParseAgentTarget(target); ok {
		return r.locks.lock("agent " + agent)
	}
	return r.locks.lock("persona " + target)
}

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// now tells the time by the reconciler's clock, the real one when unset.
func (r *PersonaReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}
