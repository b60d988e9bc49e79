package reliability

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// trace prints, for a failing seed, everything that touched the numbers
// named in MODEL_TRACE (comma-separated): every status a binding listing or
// holding one took, and every call to Bland that named one. It is a reading
// aid for diagnosing a seed, not a check.
func (r *modelRun) trace() {
	want := strings.Split(os.Getenv("MODEL_TRACE"), ",")
	if want[0] == "" {
		return
	}
	touches := func(nums ...[]string) bool {
		for _, ns := range nums {
			for _, n := range ns {
				if slices.Contains(want, n) {
					return true
				}
			}
		}
		return false
	}
	var lines []string
	r.truth.mu.Lock()
	for _, o := range r.truth.obs {
		pb := o.pb
		if !touches(pb.Spec.InboundNumbers, pb.Status.BoundNumbers) {
			continue
		}
		ready := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
		why := ""
		if ready != nil {
			why = fmt.Sprintf("%s %s %q", ready.Status, ready.Reason, ready.Message)
		}
		lines = append(lines, fmt.Sprintf("%s status %s gen=%d observed=%d deleting=%v finalizers=%v intent=%q observedIntent=%d spec=%v bound=%v ready=%s",
			o.at.Format("15:04:05.000"), pb.Name, pb.Generation, pb.Status.ObservedGeneration,
			!pb.DeletionTimestamp.IsZero(), pb.Finalizers, pb.Annotations[v1alpha1.IntentAnnotation], pb.Status.ObservedIntent,
			pb.Spec.InboundNumbers, pb.Status.BoundNumbers, why))
	}
	r.truth.mu.Unlock()
	for _, c := range sim.Calls(func(c blandsim.Call) bool { return slices.Contains(r.callKeys(), c.PersonaID) }) {
		if c.IsWrite() && touches(c.Numbers) || c.Endpoint == blandsim.EndpointGet {
			lines = append(lines, fmt.Sprintf("%s call %s %s %v -> %d %s late=%v (done %s)",
				c.Time.Format("15:04:05.000"), c.Endpoint, c.PersonaID, c.Numbers, c.Status, c.Fault, c.Late, c.Done.Format("15:04:05.000")))
		}
	}
	slices.Sort(lines)
	r.t.Logf("trace of %v:\n%s", want, strings.Join(lines, "\n"))
}
