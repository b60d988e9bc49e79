// Package controlplane tests hack/control-plane.sh where this project is
// built: with no cache, it tries a prebuilt control plane first and, when none
// can be reached, falls back to building from source within the download
// timeout.
package controlplane

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAnUnreachableDownloadFallsBackToTheSourceBuild(t *testing.T) {
	if os.Getenv("CONTROL_PLANE_ONLINE") == "1" {
		t.Skip("this machine reaches the prebuilt control plane")
	}
	cmd := exec.Command("bash", filepath.Join("..", "..", "hack", "control-plane.sh"))
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "TMPDIR="+t.TempDir(), "KUBEBUILDER_ASSETS=", "DOWNLOAD_TIMEOUT=30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop the build as soon as it starts: its first step is what we wait for.
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()

	var seen []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, ">>") {
			seen = append(seen, line)
		}
		if strings.Contains(line, ">> [1/3]") {
			break
		}
	}
	took := time.Since(start)
	want := []string{">> trying a prebuilt control plane", ">> no prebuilt control plane within 30s", ">> [1/3]"}
	if len(seen) != len(want) {
		t.Fatalf("progress lines %q, want ones starting %q", seen, want)
	}
	for i := range want {
		if !strings.HasPrefix(seen[i], want[i]) {
			t.Errorf("line %d is %q, want it to start %q", i, seen[i], want[i])
		}
	}
	// Installing setup-envtest and asking it each get the timeout at most.
	if took > 65*time.Second {
		t.Errorf("the fallback to the source build took %s", took)
	}
	t.Logf("fell back to the source build after %s", took.Round(100*time.Millisecond))
}
