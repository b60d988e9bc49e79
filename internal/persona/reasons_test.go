package persona

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTheStalledAlertNamesEveryStalledReason holds the shipped alert to the
// reason table: a reason added to the table that stalls a binding must be
// in the alert's expression, and the alert names no other.
func TestTheStalledAlertNamesEveryStalledReason(t *testing.T) {
	raw, err := os.ReadFile("../../config/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`ready="False", reason=~"([^"]+)"`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("the alerts have no expression over stalled reasons")
	}
	got := strings.Split(string(m[1]), "|")
	slices.Sort(got)
	if want := StalledReasons(); !slices.Equal(got, want) {
		t.Errorf("the alert names %v, the reason table stalls %v", got, want)
	}
}

// TestEveryBindingReasonHasARow reads the reasons the API declares and
// fails when one a binding can show has no row in the table: a new reason
// is one constant and one row, and this test says which row is missing.
func TestEveryBindingReasonHasARow(t *testing.T) {
	raw, err := os.ReadFile("../../api/v1alpha1/conditions.go")
	if err != nil {
		t.Fatal(err)
	}
	accountOnly := map[string]bool{"InUse": true, "SecretFound": true} // a ClusterBlandAccount's, not a binding's
	declared := regexp.MustCompile(`(?m)^\s+Reason\w+\s+= "(\w+)"`).FindAllSubmatch(raw, -1)
	if len(declared) < 10 {
		t.Fatalf("found only %d reasons in conditions.go: the pattern no longer matches", len(declared))
	}
	for _, m := range declared {
		if r := string(m[1]); !accountOnly[r] {
			if _, ok := reasons[r]; !ok {
				t.Errorf("reason %s has no row in the reason table", r)
			}
		}
	}
}
