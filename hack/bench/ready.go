package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// awaitReady follows the group's namespace with a watch until every binding
// of the group is Ready, and returns that moment. A watch, not a LIST every
// 50 ms: listing 10,000 bindings that often would cost the API server more
// than the manager does, and the figures would measure the harness. A watch
// with no resourceVersion opens with every binding as it is, so it may start
// after the group was created; one the server closes is opened again.
func (h *harness) awaitReady(g *group, limit time.Duration) time.Time {
	at, ok := h.watchReady(g, limit)
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: the %d bindings of group %s were not all Ready within %s\n", len(g.bindings), g.name, limit)
		os.Exit(1)
	}
	return at
}

func (h *harness) watchReady(g *group, limit time.Duration) (time.Time, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for ctx.Err() == nil {
		var list client.ObjectList = &v1alpha1.PersonaBindingList{}
		if g.agents {
			list = &v1alpha1.AgentBindingList{}
		}
		w, err := h.k8s.Watch(ctx, list, client.InNamespace(g.ns))
		if ctx.Err() != nil {
			break
		}
		check(err)
		isReady, count := map[string]bool{}, 0
		for ev := range w.ResultChan() {
			pb, ok := ev.Object.(*v1alpha1.PersonaBinding)
			if ab, isAgent := ev.Object.(*v1alpha1.AgentBinding); isAgent {
				pb, ok = persona.AgentView(ab), true
			}
			if !ok {
				continue // an error from the server; the channel closes next
			}
			now := ev.Type != watch.Deleted && ready(pb)
			switch {
			case now && !isReady[pb.Name]:
				count++
			case !now && isReady[pb.Name]:
				count--
			}
			isReady[pb.Name] = now
			if count == len(g.bindings) {
				w.Stop()
				return time.Now(), true
			}
		}
		w.Stop()
	}
	return time.Time{}, false
}

// readyLimit is how long n new bindings may take to be Ready before the run
// gives up: a bound on a broken run, far above any target.
func readyLimit(n int) time.Duration {
	return 5*time.Minute + time.Duration(n)*20*time.Millisecond
}

// ready reports whether a binding has handled its generation and is Ready.
func ready(pb *v1alpha1.PersonaBinding) bool {
	c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	return pb.Status.ObservedGeneration == pb.Generation && c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == pb.Generation
}
