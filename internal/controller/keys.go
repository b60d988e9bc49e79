package controller

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/metrics"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// unreadableStallAfter is how many passes in a row may fail to read a
// Secret (an API-server error, not a missing Secret) before the binding
// says Stalled: by then the queue's backoff has reached its cap.
const unreadableStallAfter = 7

// readKeys reads every binding's API key, uncached: keys are observations,
// read afresh by every pass that may call Bland or decide a deletion, and
// never taken from an earlier pass. A binding whose key is missing, not
// admitted by its account, or unreadable for now is blocked and makes no
// call. Bindings of one persona normally share a key; when they do not,
// each number's calls use the key of the binding they are made for.
func (r *PersonaReconciler) readKeys(ctx context.Context, p *pass) {
	type read struct {
		key string
		err error
	}
	// Bindings of one persona usually share one Secret or account: read
	// each once per pass.
	done := map[string]read{}
	unreadable := false
	for i := range p.bindings {
		b := &p.bindings[i]
		pb := b.Object
		source := keySource(pb)
		got, ok := done[source]
		if !ok {
			got.key, got.err = r.readAPIKey(ctx, pb)
			done[source] = got
		}
		if got.err == nil {
			r.memory.rememberKey(pb.UID, got.key)
			p.keys[b.Key()] = got.key
			b.KeyGroup = keyGroup(got.key)
			// The key is read: a stall on the key itself is over; Bland's own
			// refusals (carried, not rechecked) wait for their retry.
			if f := b.Failure; f != nil && (!persona.Reason(f.Reason).Carried || persona.Reason(f.Reason).Rechecked) {
				b.Failure = nil
			}
			continue
		}
		b.Failure = classify(got.err, credentialsSource(pb))
		if !isCredentialProblem(got.err) {
			// The API server could not say (5xx, 429, timeout, a name it
			// refuses): no call for this binding, a retry with backoff, and
			// Stalled once the backoff has reached its cap.
			unreadable = true
			b.Failure = &persona.Failure{State: persona.Progressing, Reason: v1alpha1.ReasonAPIError, Blocks: true,
				Message: "cannot read the API key from " + credentialsSource(pb) + ": " + got.err.Error() + "; retrying with backoff"}
			if !ok {
				log.FromContext(ctx).Error(got.err, "Reading the API key failed", "binding", b.Key())
			}
			p.failed(b.Failure, got.err)
		}
	}
	if n := r.memory.keysUnreadable(p.id, unreadable); n >= unreadableStallAfter {
		for i := range p.bindings {
			if f := p.bindings[i].Failure; f != nil && f.Reason == v1alpha1.ReasonAPIError && f.Blocks {
				f.State = persona.Stalled
			}
		}
	}
	for i := range p.bindings {
		r.teardown(ctx, p, &p.bindings[i])
	}
}

// isCredentialProblem says the key is missing or not admitted: something a
// person fixes, unlike an API server that could not answer.
func isCredentialProblem(err error) bool {
	var cred *errCredentials
	var denied *errNotPermitted
	return errors.As(err, &cred) || errors.As(err, &denied)
}

// teardown decides, for a deleted Detach binding that still holds numbers,
// whether its detach can be made. Outside a namespace teardown nothing is
// decided here: the detach is tried, and a deletion that cannot detach
// keeps its finalizer and says why. When its namespace is being deleted, or
// its account no longer admits the namespace (the tenant was offboarded),
// the binding must not hold the namespace for ever: it detaches with a key
// that works when tried now (the one just read, else the one this process
// last read), or lets go in this pass and says what it left attached.
func (r *PersonaReconciler) teardown(ctx context.Context, p *pass, b *persona.Binding) {
	pb := b.Object
	if pb.DeletionTimestamp.IsZero() || pb.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan || pb.Spec.Suspend || len(persona.Held(pb)) == 0 {
		return
	}
	offboarded := b.Failure != nil && b.Failure.Reason == v1alpha1.ReasonAccountNotPermitted
	if b.Failure != nil && b.Failure.Reason == v1alpha1.ReasonAPIError {
		return // the Secret could not be read for now: look again, decide nothing
	}
	if !offboarded {
		deleting, err := r.namespaceDeleting(ctx, pb)
		if err != nil {
			p.failed(&persona.Failure{State: persona.Progressing, Reason: v1alpha1.ReasonAPIError}, err)
			return
		}
		if !deleting {
			return
		}
		// A key an account no longer admits is never tried: that is the
		// tenant being offboarded, and the account's key is not theirs.
		var candidates []string
		if k := p.keys[b.Key()]; k != "" {
			candidates = append(candidates, k)
		}
		if k, ok := r.memory.keyOf(pb.UID); ok && k != p.keys[b.Key()] {
			candidates = append(candidates, k)
		}
		for _, k := range candidates {
			got, err := r.Bland.GetPersona(ctx, k, p.id)
			if err == nil {
				p.keys[b.Key()], b.KeyGroup, b.Failure = k, keyGroup(k), nil
				r.memory.looked(p.id, p.interval(), p.now)
				p.observed(got)
				return
			}
			if k := bland.KindOf(err); k != bland.KindUnauthorized && k != bland.KindNotFound {
				f := classify(err, credentialsSource(pb))
				b.Failure = f
				p.failed(f, err) // Bland could not say: try again
				return
			}
		}
	}
	b.LetGo = true
	left := persona.Held(pb)
	why := "its namespace is being deleted and no key that works was found"
	if offboarded {
		why = "its account no longer admits its namespace"
	}
	log.FromContext(ctx).Info("Deleted binding lets go without detaching", "binding", b.Key(), "persona", p.id, "numbers", left, "why", why)
	metrics.NumbersLeftAttached.Add(float64(len(left)))
	r.event(pb, corev1.EventTypeWarning, "NumbersLeftAttached", "Delete",
		"Left %s attached to persona %s: %s", persona.List(left), p.id, why)
}

// keyGroup tells keys apart without keeping or showing them.
func keyGroup(key string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return strconv.FormatUint(h.Sum64(), 36)
}

// keySource names where a binding's key comes from: bindings with the same
// source read the same key (an account's answer depends on the namespace).
func keySource(pb *v1alpha1.PersonaBinding) string {
	switch {
	case pb.Spec.AccountRef != nil:
		return "account " + pb.Namespace + " " + pb.Spec.AccountRef.Name
	case pb.Spec.CredentialsRef != nil:
		return "secret " + pb.Namespace + " " + pb.Spec.CredentialsRef.Name + " " + pb.Spec.CredentialsRef.Key
	}
	return "none " + pb.Namespace + " " + pb.Name
}
