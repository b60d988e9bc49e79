package persona

import (
	"testing"

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
	SetConditions(&bs[0].Object.Status, bs[0].Object.Generation, SuspendedInSync, v1alpha1.ReasonSuspended, "suspended; the persona matches the spec")

	fresh := Observation{Numbers: map[string]*Settings{n1: nil}, Fresh: true}
	owners, plan := Decide(bs, nil, fresh)
	want := Status(&bs[0], owners, plan, fresh, nil)

	records := FromRecords(bs, "")
	owners, plan = Decide(bs, nil, records)
	if plan.NeedsRead {
		t.Errorf("a suspended binding in sync asked for a read")
	}
	got := Status(&bs[0], owners, plan, records, nil)
	if ReadyReason(&v1alpha1.PersonaBinding{Status: got}) != v1alpha1.ReasonSuspended || readyMessage(got) != readyMessage(want) {
		t.Errorf("without a read the status says %q, after a read %q", readyMessage(got), readyMessage(want))
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
