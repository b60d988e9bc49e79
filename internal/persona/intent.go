package persona

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// The intent is the attach journal: the one record of calls whose outcome
// may still be unknown. Before a call that may attach a number a binding's
// record lacks, a pass writes, in the same metadata patch as the finalizer,
// those numbers and a deadline (when such a call can no longer land). The
// final status says it accounts for the intent (status.observedIntent) only
// when every number it names was settled: by an answer that says what
// happened, or by a read made after the deadline. Until then the numbers
// count as possibly held and a read showing them absent is not final. It
// lives on the object, so a crash, a graceful stop, an upgrade or another
// replica sees the same doubt; memory holds none of it.

// Intent is what a binding's intent annotation says.
type Intent struct {
	Seq     int64
	Numbers []string
	// Until is when a call the intent names can no longer land. Zero for an
	// intent written before deadlines were recorded: any read settles it.
	Until time.Time
}

// IntentOf parses the binding's intent annotation, "<seq>:<numbers>:<until>"
// (until in RFC 3339; absent in the older form); ok is false when it has
// none. A value that does not parse counts as sequence 0 with no numbers.
func IntentOf(pb PB) (Intent, bool) {
	v, ok := pb.Annotations[v1alpha1.IntentAnnotation]
	if !ok {
		return Intent{}, false
	}
	seq, rest, _ := strings.Cut(v, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return Intent{}, true
	}
	in := Intent{Seq: n}
	nums, until, _ := strings.Cut(rest, ":")
	for f := range strings.SplitSeq(nums, ",") {
		if f != "" {
			in.Numbers = append(in.Numbers, f)
		}
	}
	if until != "" {
		if t, err := time.Parse(time.RFC3339, until); err == nil {
			in.Until = t
		}
	}
	return in, true
}

// String is the annotation's value.
func (in Intent) String() string {
	s := strconv.FormatInt(in.Seq, 10) + ":" + strings.Join(in.Numbers, ",")
	if !in.Until.IsZero() {
		s += ":" + in.Until.UTC().Format(time.RFC3339)
	}
	return s
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

// NextIntent is the intent to write before calls that may attach numbers
// for the binding, and whether it must be written at all. An intent still
// pending keeps its sequence and the numbers still in doubt; it is not
// written again when it already names every number and lasts until need.
// until is rounded up to a whole second, the annotation's precision.
func NextIntent(pb PB, numbers []string, inDoubt map[string]bool, need, until time.Time) (Intent, bool) {
	until = until.Truncate(time.Second).Add(time.Second)
	in, pending := PendingIntent(pb)
	if !pending {
		cur, _ := IntentOf(pb)
		return Intent{Seq: max(cur.Seq, pb.Status.ObservedIntent) + 1, Numbers: sortedOrNil(sets.New(numbers...)), Until: until}, true
	}
	if sets.New(in.Numbers...).HasAll(numbers...) && !in.Until.Before(need) {
		return in, false
	}
	keep := sets.New(numbers...)
	for _, n := range in.Numbers {
		if inDoubt[n] {
			keep.Insert(n)
		}
	}
	if in.Until.After(until) {
		until = in.Until
	}
	return Intent{Seq: in.Seq, Numbers: sortedOrNil(keep), Until: until}, true
}

// InDoubt adds to doubt the numbers of the binding's pending intent whose
// deadline has not passed at now.
func InDoubt(pb PB, now time.Time, doubt map[string]bool) {
	if in, pending := PendingIntent(pb); pending && in.Until.After(now) {
		for _, n := range in.Numbers {
			doubt[n] = true
		}
	}
}

// Settles reports whether a pass settles the binding's pending intent: no
// number it names is still in doubt, and the pass either read the persona
// (after the deadline, or the numbers would still be in doubt) or wrote the
// intent itself and so knows every call it names was answered or never made.
func Settles(pb PB, doubt map[string]bool, fresh, wrote bool) bool {
	in, pending := PendingIntent(pb)
	if !pending || (!fresh && !wrote) {
		return false
	}
	return !slices.ContainsFunc(in.Numbers, func(n string) bool { return doubt[n] })
}

// Deadline is the earliest deadline after now of the bindings' pending
// intents: when a read can settle them. Zero when there is none.
func Deadline(pbs []PB, now time.Time) time.Time {
	var at time.Time
	for _, pb := range pbs {
		if in, pending := PendingIntent(pb); pending && in.Until.After(now) && (at.IsZero() || in.Until.Before(at)) {
			at = in.Until
		}
	}
	return at
}

// LegacyIntent returns the numbers an earlier release may have been
// attaching when it stopped: that release wrote its claim into
// status.boundNumbers with Reconciling=True before each call, and kept no
// intent annotation. When a call got no answer it kept the claim and
// reported the failure, still Reconciling (APIError): the call may land
// all the same. Either way the binding is given an intent (with a deadline
// from now) before anything is decided, so an attach still in flight is
// never taken for absent.
func LegacyIntent(pb PB) ([]string, bool) {
	if _, ok := pb.Annotations[v1alpha1.IntentAnnotation]; ok || pb.Status.ObservedIntent != 0 || len(pb.Status.BoundNumbers) == 0 {
		return nil, false
	}
	if !meta.IsStatusConditionTrue(pb.Status.Conditions, v1alpha1.ConditionReconciling) {
		return nil, false
	}
	return pb.Status.BoundNumbers, true
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

// Gains are the numbers the plan's attaches may give the binding that its
// record lacks: the ones an unanswered call could leave attached with no
// record knowing. Handovers, detaches and settings need no intent.
func Gains(p Plan, b *Binding) []string {
	rec := sets.New(b.Object.Status.BoundNumbers...)
	var out []string
	for _, m := range p.Attach {
		if m.Binding == b.Key() && !rec.Has(m.Number) {
			out = append(out, m.Number)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
