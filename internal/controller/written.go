package controller

import (
	"encoding/json"
	"hash/fnv"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// writtenStatus remembers a fingerprint of the status this process last wrote
// for each binding. Only the operator writes status, so a cached copy whose
// status differs from the last write is behind the API server, and must not be
// planned from. A fresh process remembers nothing and trusts its new cache.
type writtenStatus struct {
	mu   sync.Mutex
	hash map[types.UID]uint64
}

func statusHash(st *v1alpha1.PersonaBindingStatus) uint64 {
	// JSON, as the API server stores it: times at second precision.
	b, _ := json.Marshal(st)
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}

func (w *writtenStatus) record(pb *v1alpha1.PersonaBinding) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hash == nil {
		w.hash = map[types.UID]uint64{}
	}
	w.hash[pb.UID] = statusHash(&pb.Status)
}

// behind reports whether the cached binding does not yet show our last write.
func (w *writtenStatus) behind(pb *v1alpha1.PersonaBinding) bool {
	w.mu.Lock()
	want, ok := w.hash[pb.UID]
	w.mu.Unlock()
	return ok && want != statusHash(&pb.Status)
}

func (w *writtenStatus) forget(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.hash, uid)
}
