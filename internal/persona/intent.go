package persona

import (
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// The intent is how a binding's record survives a crash. Before its first
// call a pass writes, in the same metadata patch as the finalizer, the
// numbers its calls may change for the binding; the final status says it
// accounts for them (status.observedIntent). Between the two the numbers
// count as possibly held, and the persona is read before the record is
// trusted: a crash mid-call leaves no attached number that no record knows.

// Intent is what a binding's intent annotation says.
type Intent struct {
	Seq     int64
	Numbers []string
}

// IntentOf parses the binding's intent annotation; ok is false when it has
// none. A value that does not parse counts as sequence 0 with no numbers.
func IntentOf(pb PB) (Intent, bool) {
	v, ok := pb.Annotations[v1alpha1.IntentAnnotation]
	if !ok {
		return Intent{}, false
	}
	seq, nums, _ := strings.Cut(v, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return Intent{}, true
	}
	in := Intent{Seq: n}
	for f := range strings.SplitSeq(nums, ",") {
		if f != "" {
			in.Numbers = append(in.Numbers, f)
		}
	}
	return in, true
}

// String is the annotation's value.
func (in Intent) String() string {
	return strconv.FormatInt(in.Seq, 10) + ":" + strings.Join(in.Numbers, ",")
}

// PendingIntent returns the binding's intent when its status does not
// account for it yet: calls it names may have landed unrecorded.
func PendingIntent(pb PB) (Intent, bool) {
	in, ok := IntentOf(pb)
	if !ok || in.Seq == pb.Status.ObservedIntent {
		return Intent{}, false
	}
	return in, true
}

// NextIntent is the intent a pass writes before calling Bland for the
// binding: the next sequence, and the numbers its calls may change.
func NextIntent(pb PB, numbers []string) Intent {
	in, _ := IntentOf(pb)
	return Intent{Seq: max(in.Seq, pb.Status.ObservedIntent) + 1, Numbers: numbers}
}

// Held is what a binding may hold: its record, and the numbers of an
// intent its status does not account for yet.
func Held(pb PB) []string {
	in, pending := PendingIntent(pb)
	if !pending || len(in.Numbers) == 0 {
		return pb.Status.BoundNumbers
	}
	return sortedOrNil(sets.New(pb.Status.BoundNumbers...).Insert(in.Numbers...))
}

// Touched are the numbers the plan's calls may change for the binding: its
// attaches and detaches, sorted. Handovers and settings change no holding.
func Touched(p Plan, key string) []string {
	var out []string
	for _, m := range slices.Concat(p.Detach, p.Attach) {
		if m.Binding == key {
			out = append(out, m.Number)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
