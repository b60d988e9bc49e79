package controller

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/metrics"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// readKeys reads every binding's API key, uncached. A binding whose key is
// missing or whose account refuses its namespace is blocked, and makes no
// call. Bindings of one persona normally share a key; when they do not, each
// number's calls use the key of the binding they are made for.
func (r *PersonaReconciler) readKeys(ctx context.Context, p *pass) {
	type read struct {
		key string
		err error
	}
	// Bindings of one persona usually share one Secret or account: read
	// each once per pass.
	done := map[string]read{}
	for i := range p.bindings {
		b := &p.bindings[i]
		pb := b.Object
		source := keySource(pb)
		got, ok := done[source]
		if !ok {
			got.key, got.err = r.readAPIKey(ctx, pb)
			done[source] = got
		}
		key, err := got.key, got.err
		if err == nil {
			r.memory.rememberKey(pb.UID, key)
			p.keys[b.Key()] = key
			b.KeyGroup = keyGroup(key)
			if b.Failure != nil && b.Failure.Reason != v1alpha1.ReasonUnauthorized && b.Failure.Reason != v1alpha1.ReasonPersonaNotFound {
				b.Failure = nil // the key is back; Bland's own refusals wait for their retry
			}
			continue
		}
		b.Failure = classify(err, credentialsSource(pb))
		if !pb.DeletionTimestamp.IsZero() {
			r.teardown(ctx, p, b, err)
		}
	}
	for i := range p.bindings {
		b := &p.bindings[i]
		if !b.Object.DeletionTimestamp.IsZero() && b.Failure != nil && b.Failure.Reason == v1alpha1.ReasonUnauthorized {
			r.teardown(ctx, p, b, nil) // a refused key during teardown counts as a missing one
		}
	}
}

// teardown handles a deleted Detach binding without a usable key. When its
// namespace is being deleted, the binding must not hold the namespace in
// Terminating for ever: it detaches with the key this process last read for
// it, or, without one, lets go and says what it left attached. Otherwise the
// finalizer waits for the key.
func (r *PersonaReconciler) teardown(ctx context.Context, p *pass, b *persona.Binding, cause error) {
	var cred *errCredentials
	if cause != nil && !errors.As(cause, &cred) {
		return // not a missing key (an API server error): try again
	}
	deleting, err := r.namespaceDeleting(ctx, b.Object)
	if err != nil || !deleting {
		return
	}
	if key, ok := r.memory.keyOf(b.Object.UID); ok && key != p.keys[b.Key()] {
		p.keys[b.Key()], b.KeyGroup, b.Failure = key, keyGroup(key), nil
		return
	}
	b.LetGo = true
	left := persona.Held(b.Object)
	if len(left) == 0 {
		return
	}
	log.FromContext(ctx).Info("Namespace deleted with its Secret: leaving numbers attached", "persona", p.id, "numbers", left)
	metrics.NumbersLeftAttached.Add(float64(len(left)))
	r.event(b.Object, corev1.EventTypeWarning, "NumbersLeftAttached", "Delete",
		"Namespace deleted with its Secret and no usable key: left %s attached to persona %s", persona.List(left), p.id)
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
