package persona

import (
	"strings"
	"testing"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// An approval lets past the detach limit exactly the numbers it names, for
// its generation: a larger or different set waits, and the message says the
// approval was for another set and how to approve this one.
func TestAnApprovalCoversExactlyItsNumbers(t *testing.T) {
	tests := []struct {
		name     string
		approval func(gen int64) string
		detached bool
	}{
		{"the exact set", func(gen int64) string { return ApprovalFor(gen, []string{n2, n1}) }, true},
		{"a smaller set (a number drifted after review)", func(gen int64) string { return ApprovalFor(gen, []string{n1}) }, false},
		{"the exact set at another generation", func(gen int64) string { return ApprovalFor(gen-1, []string{n1, n2}) }, false},
		{"a generation alone, accepted for one release", itoa, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := bindings(spec{name: "a", limit: 1, record: []string{n1, n2}})
			pb := bs[0].Object
			pb.Annotations = map[string]string{v1alpha1.ApproveDetachAnnotation: tt.approval(pb.Generation)}
			obs := FromRecords(bs, "")
			owners, plan := Decide(bs, nil, obs)
			if got := len(plan.Detach) == 2; got != tt.detached {
				t.Fatalf("detached %v (pending %v), want detached %t", plan.Detach, plan.PendingDetach, tt.detached)
			}
			if tt.detached {
				return
			}
			msg := readyMessage(Status(&bs[0], owners, plan, obs, RecordAfter(&bs[0], plan, obs)))
			if !strings.Contains(msg, "is for another generation or another set of numbers") || !strings.Contains(msg, ApprovalFor(pb.Generation, []string{n1, n2})) {
				t.Errorf("message %q does not say the approval differs and how to approve this set", msg)
			}
		})
	}
	if ApprovalFor(3, []string{n1, n2}) != ApprovalFor(3, []string{n2, n1}) || ApprovalFor(3, []string{n1}) == ApprovalFor(3, []string{n1, n2}) {
		t.Error("the approval depends on the order of the numbers, or not on the set")
	}
}
