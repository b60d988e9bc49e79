package persona

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// A suspended binding claims a number that is attached, but no record
// holds it (it makes no calls, so its record never gains one). A read
// reported it in sync; a pass that makes no call plans from the records,
// which lack the number, and must not report "would attach" from them:
// the two kinds of pass would otherwise rewrite its status in turn, for
// ever.
func TestASuspendedBindingInSyncKeepsItsReportWithoutARead(t *testing.T) {
	bs := bindings(spec{name: "a", suspend: true, numbers: []string{n1}})
	fresh := Observation{Numbers: map[string]*Settings{n1: nil}, Fresh: true}
	owners, plan := Decide(bs, nil, fresh)
	want := Status(&bs[0], owners, plan, fresh, nil)
	bs[0].Object.Status = want // what the pass that read wrote

	records := FromRecords(bs, "")
	owners, plan = Decide(bs, nil, records)
	if plan.NeedsRead {
		t.Errorf("a suspended binding in sync asked for a read")
	}
	got := Status(&bs[0], owners, plan, records, nil)
	if readyMessage(got) != readyMessage(want) || !equality.Semantic.DeepEqual(got.Numbers, want.Numbers) {
		t.Errorf("without a read the status says %q %v, after a read %q %v", readyMessage(got), got.Numbers, readyMessage(want), want.Numbers)
	}
}

func readyMessage(st v1alpha1.PersonaBindingStatus) string {
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}

// A suspended binding drops numbers a younger sibling lists: the pass hands
// them over (no call). Its status, written by that same pass, must not say
// it would detach what it just handed over: the report is made from its
// record after the pass, not the one it started with, or a second pass
// (woken by anything) would rewrite it.
func TestASuspendedBindingDoesNotReportDetachingWhatItHandedOver(t *testing.T) {
	bs := bindings(
		spec{name: "a", age: 1, suspend: true, numbers: []string{n4}, record: []string{n1, n2, n4}, changed: true},
		spec{name: "b", age: 2, numbers: []string{n1, n2}},
	)
	fresh := Observation{Numbers: map[string]*Settings{n1: nil, n2: nil, n4: nil}, Fresh: true}
	owners, plan := Decide(bs, nil, fresh)
	if len(plan.Handovers) != 2 || plan.Writes() {
		t.Fatalf("want two handovers and no call, got %+v", plan)
	}
	got := Status(&bs[0], owners, plan, fresh, RecordAfter(&bs[0], plan, fresh))
	if msg := readyMessage(got); msg != "suspended; the persona matches the spec" {
		t.Errorf("after handing %s and %s over, the suspended binding says %q", n1, n2, msg)
	}
}
