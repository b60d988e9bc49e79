package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// P10 measures that tenants never share fate: 19 accounts of 50 bindings
// each go from creation to Ready as fast beside an account Bland throttles
// (every call answered 429, Retry-After 60 s) carrying 1,000 bindings that
// keep failing, as in the same run without it. The throttled account makes
// no call inside a Retry-After, and never more than its bucket allows.
const (
	p10Accounts     = 19
	p10PerAccount   = 50
	p10Hot          = 1000
	p10RetryAfter   = 60 * time.Second
	p10QPS, p10Burs = 5, 10
)

func (b *bench) p10() {
	b.stopManager()
	b.startManager(fmt.Sprintf("--api-qps=%d", p10QPS), fmt.Sprintf("--api-burst=%d", p10Burs))
	time.Sleep(5 * time.Second) // the manager settles on what earlier rows left

	quiet := b.tenantsToReady("p10q")

	hot := "p10hot"
	b.sim.InjectNext(blandsim.Fault{Kind: blandsim.FaultRateLimit, RetryAfter: fmt.Sprint(int(p10RetryAfter.Seconds())), Account: hot}, 1<<30)
	defer b.sim.ClearFaults()
	started := time.Now()
	b.makeGroup(hot, b.scaled(p10Hot), 10, 10*time.Minute, false)
	// The throttled account in its steady state: every binding has reported
	// the wait once (later passes rewrite nothing).
	waitUntil("the throttled account's bindings reporting", readyLimit(b.scaled(p10Hot)), func() bool {
		time.Sleep(time.Second)
		var list v1alpha1.PersonaBindingList
		check(b.k8s.List(context.Background(), &list, client.InNamespace(groupNamespace(hot))))
		for i := range list.Items {
			if meta.FindStatusCondition(list.Items[i].Status.Conditions, v1alpha1.ConditionReady) == nil {
				return false
			}
		}
		return len(list.Items) > 0
	})
	time.Sleep(5 * time.Second) // their events and last writes flush
	loud := b.tenantsToReady("p10l")

	hotCalls := b.sim.Calls(func(c blandsim.Call) bool { return c.Account == hot && !c.Time.Before(started) })
	// The throttled bindings go (they hold nothing, so nothing holds them),
	// or they would call Bland once the faults are cleared, during the rows
	// that follow.
	b.forgetGroups(hot)
	time.Sleep(5 * time.Second) // the manager's passes for them end
	// Quiet again, on an API server holding as many objects as the loud
	// run's: the baseline is the mean of the quiet runs before and after,
	// so that what the API server's growth costs is on both sides of the
	// ratio, and what remains is the throttled account's own load.
	after := b.tenantsToReady("p10a")
	baseline := (quiet + after) / 2
	// The rows after this one (P6 counts to 10,000 bindings in all) see
	// the cluster as it was before it.
	b.forgetGroups("p10q", "p10l", "p10a")
	inside, most := insideRetryAfter(hotCalls, p10RetryAfter), blandsim.MostInASecond(hotCalls)
	ratio := loud.Seconds() / baseline.Seconds()
	b.add(row{"P10", fmt.Sprintf("%d accounts of %d bindings created at once, creation-to-Ready p99, beside an account answered 429 (Retry-After %s) on every call with %s bindings, as a multiple of the same without it (the mean of a run before and one after); the throttled account's calls inside a Retry-After, and most in one second (bucket %d/s, burst %d)",
		p10Accounts, p10PerAccount, p10RetryAfter, thousands(b.scaled(p10Hot)), p10QPS, p10Burs),
		fmt.Sprintf("%.2fx (p99 %d ms against %d ms: %d before, %d after); %d calls in %s, %d inside a Retry-After, at most %d in one second", ratio, loud.Milliseconds(), baseline.Milliseconds(), quiet.Milliseconds(), after.Milliseconds(), len(hotCalls), time.Since(started).Round(time.Second), inside, most),
		fmt.Sprintf("<= 1.2x; 0 inside; <= %d", p10QPS+p10Burs), ratio <= 1.2 && inside == 0 && most <= p10QPS+p10Burs})
}

// tenantsToReady creates p10Accounts accounts of p10PerAccount bindings (5
// personas of 10 each) at once and returns the 99th percentile of the time
// from a binding's creation to its Ready.
func (b *bench) tenantsToReady(prefix string) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	readyAt := map[string]time.Time{}
	go func() { // a watch the server closes is opened again
		for ctx.Err() == nil {
			w, err := b.k8s.Watch(ctx, &v1alpha1.PersonaBindingList{})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				pb, ok := ev.Object.(*v1alpha1.PersonaBinding)
				if !ok || ev.Type == watch.Deleted || !ready(pb) || !strings.HasPrefix(pb.Namespace, groupNamespace(prefix)) {
					continue // another run's, or not Ready yet
				}
				mu.Lock()
				if _, seen := readyAt[pb.Namespace+"/"+pb.Name]; !seen {
					readyAt[pb.Namespace+"/"+pb.Name] = time.Now()
				}
				mu.Unlock()
			}
			w.Stop()
		}
	}()
	createdAt := map[string]time.Time{}
	for i := range p10Accounts { // one after the other: makeGroup numbers each group
		g := b.makeGroup(fmt.Sprintf("%s%02d", prefix, i), p10PerAccount, 10, 10*time.Minute, false)
		for _, pb := range g.bindings {
			k := client.ObjectKeyFromObject(pb).String()
			at, _ := b.createdAt.Load(k)
			createdAt[k] = at.(time.Time)
		}
	}
	deadline := time.Now().Add(readyLimit(len(createdAt)))
	for {
		mu.Lock()
		done := len(readyAt) >= len(createdAt)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			b.explainNotReady(createdAt, readyAt)
			os.Exit(1) //nolint:gocritic // the watch is cancelled just above
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var took []time.Duration
	for k, at := range createdAt {
		took = append(took, readyAt[k].Sub(at))
	}
	slices.Sort(took)
	return took[len(took)*99/100]
}

// forgetGroups deletes the bindings of the groups whose names start with
// one of prefixes (those holding numbers detach them) and waits until they
// are gone; they no longer count as made.
func (b *bench) forgetGroups(prefixes ...string) {
	ctx := context.Background()
	mine := func() []v1alpha1.PersonaBinding {
		var list v1alpha1.PersonaBindingList
		check(b.k8s.List(ctx, &list))
		return slices.DeleteFunc(list.Items, func(pb v1alpha1.PersonaBinding) bool {
			return !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(pb.Namespace, groupNamespace(p)) })
		})
	}
	doomed := mine()
	parallel(len(doomed), 16, func(i int) { check(client.IgnoreNotFound(b.k8s.Delete(ctx, &doomed[i]))) })
	waitUntil("the bindings of "+strings.Join(prefixes, ", ")+" gone", 5*time.Minute, func() bool { return len(mine()) == 0 })
	b.made -= len(doomed)
}

// insideRetryAfter counts calls that arrived while an earlier 429 of the
// account asked to wait, but for those within 100 ms of that 429: already
// in flight when it came, sent before the client could hear it.
func insideRetryAfter(calls []blandsim.Call, retryAfter time.Duration) int {
	n := 0
	var last429, until time.Time
	for _, c := range calls {
		if c.Time.Before(until) && c.Time.Sub(last429) > 100*time.Millisecond {
			n++
		}
		if c.Status == http.StatusTooManyRequests {
			last429 = c.Time
			if end := c.Time.Add(retryAfter); end.After(until) {
				until = end
			}
		}
	}
	return n
}

// explainNotReady prints, for a run that gives up, how many bindings were
// not Ready and their Ready reasons.
func (b *bench) explainNotReady(created, readyAt map[string]time.Time) {
	reasons := map[string]int{}
	for k := range created {
		if _, ok := readyAt[k]; ok {
			continue
		}
		ns, name, _ := strings.Cut(k, "/")
		var pb v1alpha1.PersonaBinding
		if err := b.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &pb); err != nil {
			reasons["unreadable: "+err.Error()]++
			continue
		}
		c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil {
			reasons["no Ready condition"]++
			continue
		}
		reasons[c.Reason+": "+c.Message]++
	}
	fmt.Fprintf(os.Stderr, "bench: %d of %d bindings not Ready:\n", len(created)-len(readyAt), len(created))
	for r, n := range reasons {
		fmt.Fprintf(os.Stderr, "  %d %s\n", n, r)
	}
}
