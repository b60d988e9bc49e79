package persona

import (
	"strings"
	"testing"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// A binding with several blocking causes tells them all, the most
// actionable first: a conflict no longer hides a rejected key, nor a key a
// conflict.
func TestEveryBlockingCauseIsTold(t *testing.T) {
	bs := bindings(
		spec{name: "older", numbers: []string{n1}, record: []string{n1}},
		spec{name: "younger", age: 1, numbers: []string{n1, n2}, refused: []string{n2}},
	)
	bs[1].Failure = Fail(v1alpha1.ReasonUnauthorized, "Bland rejected the API key from Secret bland")
	obs := FromRecords(bs, "")
	owners, plan := Decide(bs, nil, obs)
	st := Status(&bs[1], owners, plan, obs, RecordAfter(&bs[1], plan, obs))
	msg := readyMessage(st)
	if reason := readyReason(st); reason != v1alpha1.ReasonUnauthorized {
		t.Errorf("Ready reason %q, want the key first (Unauthorized)", reason)
	}
	for _, want := range []string{"Bland rejected the API key", "also " + v1alpha1.ReasonNumberNotOwned + ": ", "also " + v1alpha1.ReasonNumberConflict + ": ", n1, n2} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Index(msg, v1alpha1.ReasonNumberNotOwned) > strings.Index(msg, v1alpha1.ReasonNumberConflict) {
		t.Errorf("message %q does not put the refused number before the conflict", msg)
	}
}

func readyReason(st v1alpha1.PersonaBindingStatus) string {
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}
