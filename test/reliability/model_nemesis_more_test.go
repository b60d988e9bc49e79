package reliability

import (
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The faults of a shared cluster and of a rolling update: the account's
// Secret deleted for a while, a persona deleted in Bland with force and made
// again, Bland's organization rate limit, and a graceful stop after a write
// timed out, the write landing around the time the new leader starts.

// lapses counts, in steps, how long each temporary fault still lasts.
type lapses struct {
	secretGone  int    // the Secret is recreated when it reaches 0
	foreignKey  int    // the Secret gets the run's own key back when it reaches 0
	unadmitted  int    // the account admits the namespace again when it reaches 0
	orgLimit    int    // the organization rate limit ends when it reaches 0
	personaGone int    // the deleted persona is made again when it reaches 0
	gone        string // the deleted persona
}

// deleteSecret deletes the run's Secret for a few steps: every binding of
// the run says CredentialsNotFound, and a deleted Detach binding that holds
// numbers waits for the key.
func (r *modelRun) deleteSecret(world) {
	if r.lapses.secretGone > 0 || r.lapses.foreignKey > 0 || !r.nemesis.revokedAt.IsZero() {
		return
	}
	err := k8s.Delete(r.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: r.ns}})
	if err != nil && !apierrors.IsNotFound(err) {
		r.t.Fatalf("deleting the Secret: %v", err)
	}
	r.lapses.secretGone = 2 + r.rng.IntN(4)
	r.note("Secret bland deleted")
}

// swapKey puts a second organization's key into the run's Secret for a
// few steps, as a tenant pasting the wrong key would: that organization has
// no persona of the run, so Bland answers "not found or access denied", and
// a deleted Detach binding holding numbers must wait, never take that
// answer for a detach.
func (r *modelRun) swapKey(world) {
	if r.lapses.secretGone > 0 || r.lapses.foreignKey > 0 || !r.nemesis.revokedAt.IsZero() {
		return
	}
	other := "sk-other-" + r.ns
	sim.AddAccount("other-"+r.ns, other)
	r.setSecretKey(other)
	r.lapses.foreignKey = 2 + r.rng.IntN(4)
	r.note("Secret bland holds another organization's key")
}

// setSecretKey writes key into the run's Secret.
func (r *modelRun) setSecretKey(key string) {
	var s corev1.Secret
	must(r.t, k8s.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: "bland"}, &s))
	s.Data = map[string][]byte{"apiKey": []byte(key)}
	must(r.t, k8s.Update(r.ctx, &s))
}

func (r *modelRun) restoreOwnKey() {
	r.setSecretKey(r.key)
	r.lapses.foreignKey = 0
	r.note("Secret bland holds the run's key again")
}

// restoreSecret creates the run's Secret again.
func (r *modelRun) restoreSecret() {
	err := k8s.Create(r.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: r.ns}, StringData: map[string]string{"apiKey": r.key}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		r.t.Fatalf("creating the Secret again: %v", err)
	}
	r.lapses.secretGone = 0
	r.note("Secret bland created again")
}

// limitOrganization sets Bland's organization rate limit (429 with no
// Retry-After past two calls a second) for a few steps.
func (r *modelRun) limitOrganization(world) {
	sim.SetOrgRateLimit(r.account, 2)
	r.lapses.orgLimit = 2 + r.rng.IntN(4)
	r.note("organization rate limit: 2 calls a second")
}

func (r *modelRun) unlimitOrganization() {
	sim.SetOrgRateLimit(r.account, 0)
	r.lapses.orgLimit = 0
	r.note("organization rate limit lifted")
}

// deletePersona deletes a persona in Bland with force (its numbers are
// freed, as the dashboard's delete does), and makes it again, empty and
// with the same ID, a few steps later: its bindings say PersonaNotFound
// meanwhile, and put every number back once it is there.
func (r *modelRun) deletePersona(world) {
	if r.lapses.personaGone > 0 {
		return
	}
	p := r.personas[r.rng.IntN(len(r.personas))]
	sim.DeletePersona(p)
	r.truth.snapshot()
	r.lapses.personaGone, r.lapses.gone = 2+r.rng.IntN(4), p
	r.note("persona %s deleted in Bland with force", p)
}

func (r *modelRun) restorePersona() {
	sim.AddPersona(r.key, r.lapses.gone, r.lapses.gone)
	r.truth.snapshot()
	r.note("persona %s made again", r.lapses.gone)
	r.lapses.personaGone, r.lapses.gone = 0, ""
}

// lapse is one temporary fault: how many steps it still lasts, and how it
// ends (which sets the count to 0).
type lapse struct {
	left *int
	end  func()
}

func (r *modelRun) lapseList() []lapse {
	return []lapse{
		{&r.lapses.personaGone, r.restorePersona},
		{&r.lapses.secretGone, r.restoreSecret},
		{&r.lapses.orgLimit, r.unlimitOrganization},
		{&r.lapses.foreignKey, r.restoreOwnKey},
		{&r.lapses.unadmitted, r.readmit},
	}
}

// active says a temporary fault is still going on.
func (l lapses) active() bool {
	return l.secretGone > 0 || l.foreignKey > 0 || l.unadmitted > 0 || l.orgLimit > 0 || l.personaGone > 0
}

// tickLapses ends the temporary faults whose steps are up.
func (r *modelRun) tickLapses() {
	for _, l := range r.lapseList() {
		if *l.left > 0 {
			if *l.left--; *l.left == 0 {
				l.end()
			}
		}
	}
}

// endLapses ends every temporary fault (quiescence).
func (r *modelRun) endLapses() {
	for _, l := range r.lapseList() {
		if *l.left > 0 {
			l.end()
		}
	}
}

// termAfterTimeout holds a write to a persona until its client gives up
// (the API timeout), then stops the leader gracefully: the pass records
// the call in doubt on the binding and the process exits. The write lands
// lateDelay after the client gave up, around the time the new leader
// starts, which must neither trust a read made before it landed nor leave
// what it attached to nobody.
func (r *modelRun) termAfterTimeout(w world) {
	b, holds, arrived, ok := r.editWithWritesHeld(w, 1+r.rng.IntN(3))
	defer releaseAll(holds)
	if !ok || !arrived {
		return // no write was made (the edit needed none, or a fault stopped it)
	}
	// The fault's schedule, not a synchronisation: the client gives up
	// after the API timeout, and the stop comes just after.
	time.Sleep(apiTimeout + 150*time.Millisecond)
	if r.reps.signalLeader(syscall.SIGTERM) {
		r.note("SIGTERM the leader after its write to %s timed out (a new standby starts)", b.persona)
	}
}
