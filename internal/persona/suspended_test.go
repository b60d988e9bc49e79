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
