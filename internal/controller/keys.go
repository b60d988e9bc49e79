package controller

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// unreadableStallAfter is how many passes in a row may fail to read a
// Secret (an API-server error, not a missing Secret) before the binding
// says Stalled: by then the queue's backoff has reached its cap.
const unreadableStallAfter = 7

// keyRead is what reading one binding's credentials found: its key, or
// the failure that stands in for it. The key is never logged.
type keyRead struct {
	key     string
	failure *persona.Failure
	// unreadable is the API server's error when it could not say (5xx,
	// 429, a timeout, a name it refuses), as opposed to a missing key.
	unreadable error
}

// readKeys reads every binding's API key, uncached, and returns what it
// found by binding: keys are observations, read afresh by every pass that
// may call Bland or decide a deletion, and never taken from an earlier
// pass. Bindings of one persona usually share a Secret or an account: each
// source is read once.
func (r *PersonaReconciler) readKeys(ctx context.Context, bindings []persona.Binding) map[string]keyRead {
	bySource := map[string]keyRead{}
	out := map[string]keyRead{}
	for i := range bindings {
		pb := bindings[i].Object
		source := keySource(pb)
		got, done := bySource[source]
		if !done {
			key, account, err := r.readAPIKey(ctx, pb)
			switch {
			case err == nil:
				got.key = key
				r.Bland.UseAccount(key, account)
			case isCredentialProblem(err):
				got.failure = classify(err, credentialsSource(pb))
			default:
				got.unreadable = err
				got.failure = &persona.Failure{State: persona.Progressing, Reason: v1alpha1.ReasonAPIError, Blocks: true,
					Message: "cannot read the API key from " + credentialsSource(pb) + ": " + err.Error() + "; retrying with backoff"}
				log.FromContext(ctx).Error(err, "Reading the API key failed", "binding", bindings[i].Key())
			}
			bySource[source] = got
		}
		out[bindings[i].Key()] = got
	}
	return out
}

// useKeys puts what readKeys found into the pass. A binding without a key
// is blocked and makes no call; an unreadable Secret retries the pass with
// backoff, and says Stalled once the backoff has reached its cap.
func (p *pass) useKeys(reads map[string]keyRead) {
	unreadable := false
	for i := range p.bindings {
		b := &p.bindings[i]
		got := reads[b.Key()]
		if got.failure == nil {
			p.r.memory.rememberKey(b.Object.UID, got.key)
			p.keys[b.Key()] = got.key
			b.KeyGroup = keyGroup(got.key)
			// The key is read: a stall on the key itself is over; Bland's own
			// refusals (carried, not rechecked) wait for their retry.
			if f := b.Failure; f != nil && (!persona.Reason(f.Reason).Carried || persona.Reason(f.Reason).Rechecked) {
				b.Failure = nil
			}
			continue
		}
		f := *got.failure
		b.Failure = &f
		if got.unreadable != nil {
			unreadable = true
			p.heard.Failed(b.Failure, got.unreadable)
		}
	}
	if n := p.r.memory.keysUnreadable(p.id, unreadable); n >= unreadableStallAfter {
		for i := range p.bindings {
			if f := p.bindings[i].Failure; f != nil && f.Reason == v1alpha1.ReasonAPIError && f.Blocks {
				f.State = persona.Stalled
			}
		}
	}
}

// teardowns decides, for every deleted binding of the pass, whether its
// detach can be made (teardown), and puts the verdicts into the pass.
func (r *PersonaReconciler) teardowns(ctx context.Context, p *pass) {
	for i := range p.bindings {
		b := &p.bindings[i]
		if v := r.teardown(ctx, p.id, b, p.keys[b.Key()]); v != (verdict{}) {
			p.useVerdict(b, v)
		}
	}
}

// verdict is what teardown decided for one deleted binding: detach with a
// key that works now (and the read that showed it), let go without the
// detach, or look again later. The zero verdict decides nothing.
type verdict struct {
	key     string
	read    *bland.Persona
	letGo   string // why it lets go, when it does
	failure *persona.Failure
	err     error
}

// teardown decides, for a deleted Detach binding that still holds numbers,
// whether its detach can be made. Outside a namespace teardown nothing is
// decided here: the detach is tried, and a deletion that cannot detach
// keeps its finalizer and says why. When its namespace is being deleted, or
// its account no longer admits the namespace (the tenant was offboarded),
// the binding must not hold the namespace for ever: it detaches with a key
// that works when tried now (the one just read, else the one this process
// last read), or lets go in this pass.
func (r *PersonaReconciler) teardown(ctx context.Context, id string, b *persona.Binding, key string) verdict {
	pb := b.Object
	switch {
	case pb.DeletionTimestamp.IsZero() || pb.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan || pb.Spec.Suspend || len(persona.Held(pb)) == 0:
		return verdict{}
	case b.Failure != nil && b.Failure.Reason == v1alpha1.ReasonAPIError:
		return verdict{} // the Secret could not be read for now: decide nothing
	case b.Failure != nil && b.Failure.Reason == v1alpha1.ReasonAccountNotPermitted:
		// The account's key is not the offboarded tenant's to use.
		return verdict{letGo: "its account no longer admits its namespace"}
	}
	deleting, err := r.namespaceDeleting(ctx, pb)
	if err != nil {
		return verdict{failure: persona.Fail(v1alpha1.ReasonAPIError, "cannot tell whether the namespace is being deleted; retrying with backoff"), err: err}
	}
	if !deleting {
		return verdict{}
	}
	candidates := []string{key}
	if k, ok := r.memory.keyOf(pb.UID); ok && k != key {
		candidates = append(candidates, k)
	}
	for _, k := range candidates {
		if k == "" {
			continue
		}
		got, err := r.read(ctx, k, id)
		if err == nil {
			return verdict{key: k, read: got}
		}
		if kind := bland.KindOf(err); kind != bland.KindUnauthorized && kind != bland.KindNotFound {
			return verdict{failure: classify(err, credentialsSource(pb)), err: err} // Bland could not say
		}
	}
	return verdict{letGo: "its namespace is being deleted and no key that works was found"}
}

// useVerdict puts a teardown verdict into the pass; a binding let go is
// reported once its finalizer is removed (finish's released).
func (p *pass) useVerdict(b *persona.Binding, v verdict) {
	switch {
	case v.read != nil:
		p.keys[b.Key()], b.KeyGroup, b.Failure = v.key, keyGroup(v.key), nil
		p.r.memory.looked(p.id, p.interval(), p.now)
		p.heed(persona.Answer{Kind: persona.Read, Group: b.KeyGroup, Seen: seen(v.read)}, nil)
	case v.failure != nil:
		b.Failure = v.failure
		p.heard.Failed(v.failure, v.err)
	case v.letGo != "":
		b.LetGo, p.letGo[b.Key()] = true, v.letGo
	}
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

// isCredentialProblem says the key is missing or not admitted: something a
// person fixes, unlike an API server that could not answer.
func isCredentialProblem(err error) bool {
	var cred *errCredentials
	var denied *errNotPermitted
	return errors.As(err, &cred) || errors.As(err, &denied)
}
