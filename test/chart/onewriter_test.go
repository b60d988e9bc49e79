package chart

import (
	"os/exec"
	"strings"
	"testing"
)

// Two replicas without leader election would be two managers writing to
// Bland: the chart refuses the pair, naming both values, and renders one
// replica without a leader.
func TestTheChartRefusesTwoWritersWithoutALeader(t *testing.T) {
	out, err := exec.Command(helmBin, "template", "bo", chartDir, "--set", "leaderElection.enabled=false").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "leaderElection.enabled=false") || !strings.Contains(string(out), "replicaCount=2") {
		t.Errorf("leader election off with the default two replicas: %v, want a refusal naming both values\n%s", err, out)
	}
	one, _ := helm(t, "template", "bo", chartDir, "--set", "leaderElection.enabled=false", "--set", "replicaCount=1")
	if !strings.Contains(one, "--leader-elect=false") {
		t.Error("one replica without leader election did not render --leader-elect=false")
	}
}
