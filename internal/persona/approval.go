package persona

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// An approval of detaches past the detach limit names the generation whose
// spec asks for them and the exact numbers: "<generation>:<digest>", the
// digest being the first twelve hex digits of the SHA-256 of the sorted
// numbers, one per line. A number that drifted after the reviewer looked
// changes the set, and the approval no longer covers it.

// ApprovalFor is the approve-detach value that lets past the detach limit
// exactly numbers, for generation.
func ApprovalFor(generation int64, numbers []string) string {
	sorted := slices.Sorted(slices.Values(numbers))
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return itoa(generation) + ":" + hex.EncodeToString(sum[:])[:12]
}

// approves reports whether the binding's approval covers detaching nums: it
// names this generation and exactly these numbers. An approval that names
// only the generation (the form of earlier releases) is still accepted for
// this release; ApprovedByGenerationOnly tells the shell to warn.
func (b *Binding) approves(nums []string) bool {
	got := b.Object.Annotations[v1alpha1.ApproveDetachAnnotation]
	return got == ApprovalFor(b.Object.Generation, nums) || got == itoa(b.Object.Generation)
}

// ApprovedByGenerationOnly reports whether the binding's approval names its
// generation but no numbers: it approves whatever set that generation
// detaches, which is accepted until the next release.
func ApprovedByGenerationOnly(pb PB) bool {
	return pb.GetAnnotations()[v1alpha1.ApproveDetachAnnotation] == itoa(pb.GetGeneration())
}
