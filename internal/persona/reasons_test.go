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
