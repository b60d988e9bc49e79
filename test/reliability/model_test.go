package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// TestModel runs random operations against two manager processes with leader
// election — creates, edits and deletes of bindings that share personas and
// numbers, with per-number settings and 30 s resyncs, numbers the account does
// not own, numbers moved behind the operator's back — under a nemesis (faults,
// hangs whose writes land after the client gave up, kill -9 and SIGTERM of the
// leader, the API server cut off, the API key revoked and restored), while a
// model of the specification says what must hold:
//   - online, every Ready=True the bindings take is true of what Bland held
//     while it was written (model_truth_test.go);
//   - from the simulator's history, no detach took a number its holder held,
//     no two calls to a persona overlapped, no call was abandoned by a
//     graceful shutdown (model_history_test.go);
//   - at quiescence, every persona, status, setting and finalizer is what the
//     model expects, and then nothing calls Bland or writes a status for 6 s.
//
// MODEL_SEED picks the run (default: the fixed ciSeeds in the short form, a
// new one in the long), MODEL_STEPS its length, MODEL_DURATION keeps running
// new seeds for that long. On failure it
// prints the seed and the operation log: MODEL_SEED=n reproduces the workload.
// MODEL_KEEP_GOING=1 runs on after a failing seed (to survey seeds),
// MODEL_LOG=1 prints the operation log of passing seeds too, and
// MODEL_NEMESIS=kind,kind keeps only those faults (see nemesisKinds).
// One binding in four is an AgentBinding, and numbers move between the
// kinds (model_agents_test.go); MODEL_AGENTS=0 leaves them out.
// MODEL_TRACE=+1…,+1… prints, for a failing seed, every status and call
// that touched those numbers.
func TestModel(t *testing.T) {
	steps := envInt("MODEL_STEPS", 60)
	seeds, duration := modelSeeds()
	installSimHook()
	start := time.Now()
	runs, totalSteps := 0, 0
	for i := 0; ; i++ {
		seed := seeds[min(i, len(seeds)-1)] + uint64(max(i-len(seeds)+1, 0))
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, seed, steps, duration >= 10*time.Minute) })
		runs++
		totalSteps += steps
		if t.Failed() && os.Getenv("MODEL_KEEP_GOING") == "" {
			break
		}
		if i+1 >= len(seeds) && time.Since(start) >= duration {
			break
		}
	}
	report(t, "%d runs, %d random steps in %s", runs, totalSteps, time.Since(start).Round(time.Second))
}

// ciSeeds are the seeds the short form (make test) replays: fixed, so that
// a run of make test is reproducible; finding new failing seeds is make
// test-model's job, and a seed it finds is added here once fixed. Each of
// these found a defect once: 981458, a number let go to a claimant on
// another persona that never took it, left attached with no record.
//
// Not here: 845799 and 981438 failed now and then (a binding created and
// deleted under a revoked key still held a claim 4 s later) and have not
// failed since; replay them with make test-model SEED=n.
var ciSeeds = append(slices.Clone(personaSeeds), 12345)

// personaSeeds are the ciSeeds found before AgentBindings existed: they
// replay with PersonaBindings only. 12345, with an agent, left a number
// attached to nobody at its namespace teardown now and then (2 runs in 11)
// until a binding under Orphan kept the finalizer while it held numbers
// (none in 8 runs since); 372049, the same defect without agents, found it.
var personaSeeds = []uint64{632, 477568, 798564, 845790, 981458}

// modelSeeds returns the seeds to run first and how long to go on with new
// ones after them: MODEL_SEED alone replays one seed; MODEL_DURATION runs
// new seeds (from MODEL_SEED, else a random one) for that long; otherwise
// the short form replays ciSeeds and the long form runs one new seed.
func modelSeeds() ([]uint64, time.Duration) {
	d, timed := time.ParseDuration(os.Getenv("MODEL_DURATION"))
	random := uint64(time.Now().UnixNano() % 1_000_000)
	switch seed := uint64(envInt("MODEL_SEED", 0)); {
	case timed == nil && seed != 0:
		return []uint64{seed}, d
	case timed == nil:
		return []uint64{random}, d
	case seed != 0:
		return []uint64{seed}, 0
	case long:
		return []uint64{random}, 0
	}
	return ciSeeds, 0
}

// simHook is the run whose truth recorder sees the simulator's calls.
var simHook atomic.Pointer[truth]

// installSimHook points the simulator's OnCall at the current run, once: the
// field is read by every request, so it is set before any manager runs.
var installSimHook = sync.OnceFunc(func() {
	sim.OnCall = func(c blandsim.Call) {
		if tr := simHook.Load(); tr != nil {
			tr.onCall(c)
		}
	}
})

func readyMessage(pb *v1alpha1.PersonaBinding) string {
	for _, c := range pb.Status.Conditions {
		if c.Type == "Ready" {
			return c.Message
		}
	}
	return ""
}

// modelRuns counts the runs of this process, to give each its own numbers.
var modelRuns atomic.Int64

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return fallback
}

// genRecord is one generation of a binding: its spec and when it was written.
type genRecord struct {
	spec  modelBinding
	since time.Time
}

type modelRun struct {
	t        *testing.T
	ctx      context.Context
	seed     uint64
	rng      *rand.Rand
	ns       string
	account  string
	key      string
	personas []string
	pool     []string // the account's numbers
	foreign  []string // numbers of no account
	reps     *replicaSet
	truth    *truth
	longForm bool
	// agent is the run's Bland agent ("" for ciSeeds), and kinds decides
	// which bindings are its (model_agents_test.go).
	agent string
	kinds *rand.Rand

	mu      sync.Mutex
	history []world
	gens    map[string]map[int64]genRecord
	log     []string
	// listed is every number each binding has ever listed: an Orphan
	// deletion may leave any of them.
	listed map[string]map[string]bool
	// everSet is every (persona, number) some binding ever had settings for.
	everSet map[[2]string]map[string]bool

	nemesis nemesisState
	lapses  lapses
	// lateDelay is how long after its client gave up an abandoned write lands.
	lateDelay time.Duration
	// settledIn is how long after the last change and fault the model held.
	settledIn time.Duration
}

func runModel(t *testing.T, seed uint64, steps int, longForm bool) {
	r := newModelRun(t, seed, longForm)
	defer func() {
		r.stop()
		if t.Failed() || os.Getenv("MODEL_LOG") != "" {
			t.Logf("MODEL_SEED=%d MODEL_STEPS=%d; operations:\n%s", seed, steps, strings.Join(r.log, "\n"))
			r.trace()
		}
	}()
	r.truth.start()
	r.reps = newReplicaSet(t, r.ns, 2, r.managerArgs()...)
	for i := range steps {
		r.step(i)
		r.truth.checkUpTo(time.Now().Add(-500 * time.Millisecond))
		if t.Failed() {
			return
		}
	}
	if r.nemesis.onRelease > 0 {
		r.upgrade() // the run ends on this tree's binary
	}
	r.quiesce()
	r.checkHistory()
	if !t.Failed() {
		r.teardownNamespace()
	}
}

func newModelRun(t *testing.T, seed uint64, longForm bool) *modelRun {
	ctx := context.Background()
	r := &modelRun{
		t: t, ctx: ctx, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), longForm: longForm,
		ns:      fmt.Sprintf("model-%d-%d", seed, time.Now().UnixNano()%1_000_000),
		gens:    map[string]map[int64]genRecord{},
		listed:  map[string]map[string]bool{},
		everSet: map[[2]string]map[string]bool{},
	}
	r.account, r.key = r.ns, "sk-"+r.ns
	// Each run's numbers are its own: bindings of earlier runs stay in the
	// cluster, and one listing the same number would be older and win it.
	run := modelRuns.Add(1)
	for i := range 10 {
		n := fmt.Sprintf("+1%03d7%06d", 100+run/1000%900, run%1000*10+int64(i))
		if i < 8 {
			r.pool = append(r.pool, n)
		} else {
			r.foreign = append(r.foreign, n)
		}
	}
	sim.AddAccount(r.account, r.key, r.pool...)
	// Half the runs answer a foreign number in Bland's v1 words.
	sim.SetV1Refusals(r.account, r.rng.IntN(2) == 0 && nemesisEnabled("v1-words"))
	for i := range 2 {
		p := fmt.Sprintf("%s-p%d", r.ns, i)
		r.personas = append(r.personas, p)
		sim.AddPersona(r.key, p, p)
		sim.SetPersonaLatency(p, time.Duration(r.rng.IntN(120))*time.Millisecond)
	}
	r.addAgent()
	// Writes abandoned by a timeout or a killed process land this much later.
	r.lateDelay = time.Duration(300+r.rng.IntN(700)) * time.Millisecond
	sim.SetLateLanding(r.lateDelay)
	t.Cleanup(func() {
		for _, p := range r.personas {
			sim.SetPersonaLatency(p, 0)
		}
		sim.SetLateLanding(0)
		sim.RestoreKey(r.key)
	})
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}))
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bland", Namespace: r.ns}, StringData: map[string]string{"apiKey": r.key}}))
	r.createAccount()
	now := time.Now()
	r.history = []world{{start: now, at: now, foreign: map[string]bool{}}}
	for _, n := range r.foreign {
		r.history[0].foreign[n] = true
	}
	r.truth = newTruth(r)
	simHook.Store(r.truth)
	return r
}

// managerArgs: leader election on short timings, and a token bucket that does
// not space calls out, so calls of concurrent reconciles meet at the simulator.
func (r *modelRun) managerArgs() []string {
	// The run's managers watch its namespace only, so their metrics count
	// this run's passes and nothing of earlier runs' bindings.
	return append(leaderElection(r.ns), "--api-qps", "100", "--api-burst", "100", "--watch-namespaces", r.ns)
}

func (r *modelRun) stop() {
	if r.reps != nil {
		r.reps.stop()
	}
	r.truth.stop()
	simHook.CompareAndSwap(r.truth, nil)
}

func (r *modelRun) now() world {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.history[len(r.history)-1]
}

// commit records the model after an operation the API server accepted; start
// is when its request went out.
func (r *modelRun) commit(w world, start time.Time, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range w.bindings {
		if r.listed[b.name] == nil {
			r.listed[b.name] = map[string]bool{}
		}
		for _, n := range b.numbers {
			r.listed[b.name][n] = true
		}
		for n := range b.settings {
			k := [2]string{b.persona, n}
			if r.everSet[k] == nil {
				r.everSet[k] = map[string]bool{}
			}
			r.everSet[k][b.name] = true
		}
	}
	w.start, w.at = start, time.Now()
	r.history = append(r.history, w)
	r.log = append(r.log, fmt.Sprintf("%s %s", w.at.Format("15:04:05.000"), fmt.Sprintf(format, args...)))
}

// note logs an event that does not change the model.
func (r *modelRun) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf("%s %s", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...)))
}

// deleted reports whether the model has deleted the binding.
func (r *modelRun) deleted(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.history[len(r.history)-1]
	return slices.ContainsFunc(w.bindings, func(b modelBinding) bool { return b.name == name && b.deleted })
}

// generation returns the spec of a binding's generation g and when it was written.
func (r *modelRun) generation(name string, g int64) (modelBinding, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.gens[name][g]
	return rec.spec, rec.since, ok
}

func (r *modelRun) worldsDuring(from, to time.Time) []world {
	r.mu.Lock()
	defer r.mu.Unlock()
	return possiblyInForce(r.history, from, to)
}

// lastHold is the last holder of a number before some moment, and when it
// stopped holding it (the start of the first world where it did not).
type lastHold struct {
	name, persona string
	until         time.Time
}

// lastHolders returns, for every number held in some world begun before t,
// its last holder.
func (r *modelRun) lastHolders(t time.Time) map[string]lastHold {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]lastHold{}
	for _, w := range r.history {
		if !w.start.Before(t) {
			break
		}
		for n, lh := range out {
			if h, ok := w.holder(n); (!ok || h.name != lh.name) && lh.until.IsZero() {
				lh.until = w.start
				out[n] = lh
			}
		}
		for _, b := range w.live() {
			for _, n := range b.numbers {
				if h, ok := w.holder(n); ok && (out[n].name != h.name || !out[n].until.IsZero()) {
					out[n] = lastHold{name: h.name, persona: h.persona}
				}
			}
		}
	}
	for n, lh := range out {
		if lh.until.IsZero() {
			lh.until = t // held until the generation being judged
			out[n] = lh
		}
	}
	return out
}

// tenure returns when spec's binding began holding n without a break up to
// the world of its generation (begun at since); with settings, also wanting
// the settings spec wants for it.
func (r *modelRun) tenure(spec modelBinding, n string, since time.Time, settings bool) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := since
	for i := len(r.history) - 1; i >= 0; i-- {
		w := r.history[i]
		if !w.start.Before(since) {
			continue
		}
		h, ok := w.holder(n)
		if !ok || h.name != spec.name || h.persona != spec.persona {
			break
		}
		if settings {
			got, had := h.settings[n]
			if !had || !sameSettings(ptr(toSettings(got)), spec.settings[n]) {
				break
			}
		}
		from = w.start
	}
	return from
}

func ptr[T any](v T) *T { return &v }
