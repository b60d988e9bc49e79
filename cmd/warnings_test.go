package main

import (
	"strings"
	"testing"
)

func TestTheManagerWarnsWhenLeaderElectionIsOff(t *testing.T) {
	if w := startupWarnings(flags{leaderElect: false}); len(w) != 1 || !strings.Contains(w[0], "--leader-elect=false") {
		t.Errorf("leader election off: warnings %q, want one naming --leader-elect=false", w)
	}
	if w := startupWarnings(flags{leaderElect: true}); len(w) != 0 {
		t.Errorf("leader election on: warnings %q, want none", w)
	}
}
