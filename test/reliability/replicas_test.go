package reliability

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseName is the manager's leader election Lease (LeaderElectionID in cmd).
const leaseName = "bland-operator.personas.bland-operator.dev"

// identityFlags caches, by binary, whether it takes
// --leader-election-identity (the last release does not): replicas of one
// that does not learn who they are from the Lease (see replicaSet.leader).
var identityFlags sync.Map

func hasIdentityFlag(bin string) bool {
	if v, ok := identityFlags.Load(bin); ok {
		return v.(bool)
	}
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	has := strings.Contains(string(out), "leader-election-identity")
	identityFlags.Store(bin, has)
	return has
}

// replica is one process of a replicaSet.
type replica struct {
	m       *manager
	bin     string // the binary it runs
	id      string // holderIdentity, once known
	metrics string // its metrics address (plain HTTP)
}

// replicaSet runs managers with leader election as a Deployment would: a
// process that exits, killed or stopped after losing its Lease, is replaced.
// It finds the leader by the Lease's holderIdentity, never by log lines.
type replicaSet struct {
	t    *testing.T
	ns   string
	args []string
	// bin is the binary new processes run: this tree's, or a release's.
	bin string

	mu      sync.Mutex
	reps    []*replica
	started int
	stopped bool
	wg      sync.WaitGroup
	// deaths are the times a process died without a graceful shutdown
	// (SIGKILL, or the exit that follows a lost Lease): calls it had in
	// flight were abandoned, not waited for.
	deaths []time.Time
	// terms are the SIGTERMs sent, each with when the process had exited.
	terms [][2]time.Time
	// planned marks the processes this set is signalling itself.
	planned map[*manager]bool
	// deadIDs are the identities of exited processes.
	deadIDs []string
}

// newReplicaSet starts n managers, one at a time so each one's identity is
// known (see leader).
func newReplicaSet(t *testing.T, ns string, n int, args ...string) *replicaSet {
	rs := &replicaSet{t: t, ns: ns, args: args, bin: managerBin, planned: map[*manager]bool{}}
	for range n {
		rs.spawn()
		rs.waitIdentified(15 * time.Second)
	}
	return rs
}

// spawn starts one process and a goroutine that replaces it when it exits.
func (rs *replicaSet) spawn() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.stopped {
		return
	}
	rs.started++
	r := &replica{metrics: freeAddr(rs.t), bin: rs.bin}
	args := append(slices.Clone(rs.args), "--metrics-bind-address", r.metrics, "--metrics-secure=false")
	if hasIdentityFlag(r.bin) {
		r.id = fmt.Sprintf("%s-m%d", rs.ns, rs.started)
		args = append(args, "--leader-election-identity", r.id)
	}
	r.m = startBinary(rs.t, r.bin, args...)
	rs.reps = append(rs.reps, r)
	rs.wg.Add(1)
	go rs.supervise(r)
}

// supervise waits for r's process to end, records how, and replaces it.
func (rs *replicaSet) supervise(r *replica) {
	defer rs.wg.Done()
	<-r.m.done
	holder := rs.holder()
	rs.mu.Lock()
	if !rs.planned[r.m] {
		rs.deaths = append(rs.deaths, time.Now())
	}
	rs.reps = removeReplica(rs.reps, r)
	if r.id != "" {
		rs.deadIDs = append(rs.deadIDs, r.id)
	} else if holder != "" && !slices.ContainsFunc(rs.reps, func(x *replica) bool { return x.id == holder }) {
		// It led unidentified: every other process is identified (spawn
		// keeps at most one unknown), so a holder that is none of theirs
		// was this one's.
		rs.deadIDs = append(rs.deadIDs, holder)
	}
	stopped := rs.stopped
	rs.mu.Unlock()
	if stopped {
		return
	}
	// Without the identity flag a new process may only start once the
	// others are identified, or two unknown processes could not be told apart.
	rs.waitIdentified(15 * time.Second)
	time.Sleep(300 * time.Millisecond) // a kubelet's restart is not instant either
	rs.spawn()
}

func removeReplica(reps []*replica, r *replica) []*replica {
	out := reps[:0:0]
	for _, x := range reps {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}

// holder returns the Lease's holderIdentity, "" if none.
func (rs *replicaSet) holder() string {
	var lease coordinationv1.Lease
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: rs.ns, Name: leaseName}, &lease); err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// leader returns the replica holding the Lease, or nil. An identity seen for
// the first time belongs to the one running process not yet identified; a
// set never has two of those (see spawn and supervise).
func (rs *replicaSet) leader() *replica {
	id := rs.holder()
	if id == "" {
		return nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var unknown []*replica
	for _, r := range rs.reps {
		if r.id == id {
			return r
		}
		if r.id == "" {
			unknown = append(unknown, r)
		}
	}
	if len(unknown) == 1 && !rs.known(id) {
		unknown[0].id = id
		return unknown[0]
	}
	return nil
}

// known reports whether id was a process's that has exited: a dead leader's
// identity stays in the Lease until someone else takes it. The caller holds mu.
func (rs *replicaSet) known(id string) bool {
	return slices.Contains(rs.deadIDs, id)
}

// waitIdentified waits, at most d, until every running process is
// identified, or all but the standby (known once it leads).
func (rs *replicaSet) waitIdentified(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		rs.leader()
		rs.mu.Lock()
		unknown := 0
		for _, r := range rs.reps {
			if r.id == "" {
				unknown++
			}
		}
		n, stopped := len(rs.reps), rs.stopped
		rs.mu.Unlock()
		if unknown == 0 || stopped || (unknown == 1 && n > 1) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signalLeader sends sig to the leader and waits for it to exit. It returns
// false if no leader was known.
func (rs *replicaSet) signalLeader(sig syscall.Signal) bool {
	r := rs.leader()
	if r == nil {
		return false
	}
	rs.signal(r, sig)
	return true
}

// rollTo replaces every process that does not run bin by one that does, one
// at a time as a Deployment's rollout does (the standby first, the leader
// last), each sent SIGTERM once the one before it was replaced.
func (rs *replicaSet) rollTo(bin string) {
	rs.mu.Lock()
	rs.bin = bin
	rs.mu.Unlock()
	leader := rs.leader()
	for _, last := range []bool{false, true} {
		rs.mu.Lock()
		var old []*replica
		for _, r := range rs.reps {
			if r.bin != bin && (r == leader) == last {
				old = append(old, r)
			}
		}
		rs.mu.Unlock()
		for _, r := range old {
			rs.mu.Lock()
			started := rs.started
			rs.mu.Unlock()
			rs.signal(r, syscall.SIGTERM)
			deadline := time.Now().Add(30 * time.Second)
			for {
				rs.mu.Lock()
				replaced := rs.started > started || rs.stopped
				rs.mu.Unlock()
				if replaced || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// waitLeaderRuns waits, at most d, until the Lease's holder runs bin. A
// holder no running process is known by is one of the unidentified ones,
// which run a binary without --leader-election-identity.
func (rs *replicaSet) waitLeaderRuns(bin string, d time.Duration) bool {
	anonymous := !hasIdentityFlag(bin)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		holder := rs.holder()
		rs.mu.Lock()
		runs, named := false, false
		for _, r := range rs.reps {
			if r.id != "" && r.id == holder {
				runs, named = r.bin == bin, true
			}
		}
		if !named && holder != "" && !rs.known(holder) && anonymous {
			runs = slices.ContainsFunc(rs.reps, func(r *replica) bool { return r.bin == bin && r.id == "" })
		}
		rs.mu.Unlock()
		if runs {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// killAll kills every process that runs bin (a node lost, a forced
// rollout); each is replaced by one of the set's binary.
func (rs *replicaSet) killAll(bin string) {
	rs.mu.Lock()
	var doomed []*replica
	for _, r := range rs.reps {
		if r.bin == bin {
			doomed = append(doomed, r)
		}
	}
	rs.mu.Unlock()
	for _, r := range doomed {
		rs.signal(r, syscall.SIGKILL)
	}
}

// binary is the binary new processes run.
func (rs *replicaSet) binary() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.bin
}

// setBinary makes bin the binary of the processes started from now on.
func (rs *replicaSet) setBinary(bin string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.bin = bin
}

// signal sends sig to r, waits for it to exit, and records how it ended.
func (rs *replicaSet) signal(r *replica, sig syscall.Signal) {
	rs.mu.Lock()
	rs.planned[r.m] = true
	rs.mu.Unlock()
	sent := time.Now()
	r.m.signal(sig)
	rs.mu.Lock()
	if sig == syscall.SIGKILL {
		rs.deaths = append(rs.deaths, sent)
	} else {
		rs.terms = append(rs.terms, [2]time.Time{sent, time.Now()})
	}
	rs.mu.Unlock()
}

// stop kills every process and waits for the supervisors.
func (rs *replicaSet) stop() {
	rs.mu.Lock()
	rs.stopped = true
	reps := append([]*replica{}, rs.reps...)
	for _, r := range reps {
		rs.planned[r.m] = true
	}
	rs.mu.Unlock()
	for _, r := range reps {
		r.m.kill()
	}
	rs.wg.Wait()
}

// history returns copies of deaths and terms.
func (rs *replicaSet) history() (deaths []time.Time, terms [][2]time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]time.Time{}, rs.deaths...), append([][2]time.Time{}, rs.terms...)
}

// counters sums, over the live processes, the persona controller's passes
// and the Secrets read for keys.
func (rs *replicaSet) counters() (passes, secretReads float64) {
	rs.mu.Lock()
	reps := slices.Clone(rs.reps)
	rs.mu.Unlock()
	for _, r := range reps {
		passes += reconcileCount(rs.t, r.metrics)
		secretReads += metricValue(rs.t, r.metrics, "bland_operator_secret_reads_total")
	}
	return passes, secretReads
}
