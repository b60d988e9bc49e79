package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// lastWrites remembers the resourceVersion of this process's last write to
// each binding. A cached binding that carries it has seen that write; any
// other version may be older than it, so the reconcile reads the binding from
// the API server instead. A binding this process never wrote is planned from
// the cache: nothing of ours can be missing from it.
type lastWrites struct {
	mu sync.Mutex
	rv map[types.UID]string
}

func (l *lastWrites) record(pb *v1alpha1.PersonaBinding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rv == nil {
		l.rv = map[types.UID]string{}
	}
	l.rv[pb.UID] = pb.ResourceVersion
}

// seenBy reports whether the cached binding includes our last write to it.
func (l *lastWrites) seenBy(cached *v1alpha1.PersonaBinding) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rv, wrote := l.rv[cached.UID]
	return !wrote || rv == cached.ResourceVersion
}

func (l *lastWrites) forget(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.rv, uid)
}
