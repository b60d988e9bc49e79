package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMakeDemoWalksThrough(t *testing.T) {
	// Ports of their own (a demo of the user's may hold the defaults), below
	// the kernel's ephemeral range (32768 and up), where any connection of a
	// busy machine could take one between the demo's check and its listen.
	cmd := exec.Command("bash", "hack/demo.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_EXIT=1", "SIM_ADDR=127.0.0.1:28088", "PROBE_ADDR=127.0.0.1:28081", "DEMO_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"[1] Building", "[2] Starting a local control plane", "[6] Applying config/samples",
		"support-line condition met",
		"call detach persona=" + personaID + " numbers=+14155550103 status=200",
		"2/2", "[8] Done", "Stopped the manager, the simulator and the control plane",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}
