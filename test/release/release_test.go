// Package release runs make release into a temporary folder and checks every
// artefact: present, stamped with the version, and matching checksums.txt.
// It also checks that the version is written once (make bump moves it, make
// verify-version catches a place out of step) and that the workflows pin
// their actions.
package release

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const version = "v0.2.0-rc.1"

func TestMakeRelease(t *testing.T) {
	dist := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "release", "VERSION="+version, "DIST="+dist)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}

	want := []string{"install.yaml", "crds.yaml", "bland-operator-0.2.0-rc.1.tgz", "checksums.txt",
		"manager-linux-amd64", "manager-linux-arm64", "blandsim-linux-amd64", "blandsim-linux-arm64", "bland.yaml"}
	for _, p := range []string{"linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"} {
		want = append(want, "kubectl-bland-"+p+".tar.gz")
	}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dist, name)); err != nil {
			t.Errorf("missing %s", name)
		}
	}

	t.Run("checksums match", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
		if len(lines) != len(want)-1 {
			t.Errorf("checksums.txt lists %d files, want %d", len(lines), len(want)-1)
		}
		for _, line := range lines {
			sum, name, _ := strings.Cut(line, "  ")
			b, err := os.ReadFile(filepath.Join(dist, name))
			if err != nil {
				t.Fatal(err)
			}
			got := sha256.Sum256(b)
			if hex.EncodeToString(got[:]) != sum {
				t.Errorf("checksum of %s does not match", name)
			}
		}
	})

	t.Run("the version is stamped into the binaries, the image and the chart", func(t *testing.T) {
		if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
			for _, bin := range []string{"manager", "blandsim"} {
				out, err := exec.Command(filepath.Join(dist, bin+"-linux-amd64"), "--version").CombinedOutput()
				if err != nil || !strings.Contains(string(out), version) {
					t.Errorf("%s --version: %v %q", bin, err, out)
				}
			}
		}
		install, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(install), "image: ghcr.io/bland-operator/bland-operator:"+version) {
			t.Error("install.yaml does not use the release's image tag")
		}
		chart := chartYAML(t, filepath.Join(dist, "bland-operator-0.2.0-rc.1.tgz"))
		if !strings.Contains(chart, "version: 0.2.0-rc.1") || !strings.Contains(chart, "appVersion: "+version) {
			t.Errorf("the chart is not stamped:\n%s", chart)
		}
	})

	t.Run("the krew manifest names every archive with its checksum", func(t *testing.T) {
		manifest, err := os.ReadFile(filepath.Join(dist, "bland.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"} {
			archive := "kubectl-bland-" + p + ".tar.gz"
			b, err := os.ReadFile(filepath.Join(dist, archive))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if !strings.Contains(string(manifest), "releases/download/"+version+"/"+archive+"\n    sha256: "+hex.EncodeToString(sum[:])) {
				t.Errorf("bland.yaml lacks %s with its checksum:\n%s", archive, manifest)
			}
		}
		if !strings.Contains(string(manifest), "version: "+version) {
			t.Error("bland.yaml is not stamped with the version")
		}
	})

	t.Run("the plugin archive holds a binary that runs", func(t *testing.T) {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			t.Skip("runs the linux/amd64 binary")
		}
		bin := extract(t, filepath.Join(dist, "kubectl-bland-linux-amd64.tar.gz"), "kubectl-bland")
		out, err := exec.Command(bin, "plan", "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Exit status:") || !strings.Contains(string(out), "kubectl bland plan -f FILENAME") {
			t.Errorf("kubectl-bland plan --help (usage as kubectl bland plan): %v\n%s", err, out)
		}
		out, err = exec.Command(bin, "version", "--kubeconfig", filepath.Join(t.TempDir(), "none")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "plugin: "+version) {
			t.Errorf("kubectl-bland version is not stamped %s: %v\n%s", version, err, out)
		}
	})

	t.Run("every plugin archive carries the license", func(t *testing.T) {
		license, err := os.ReadFile(filepath.Join("..", "..", "LICENSE"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"} {
			if got := fileIn(t, filepath.Join(dist, "kubectl-bland-"+p+".tar.gz"), "LICENSE"); string(got) != string(license) {
				t.Errorf("kubectl-bland-%s.tar.gz lacks the LICENSE", p)
			}
			if got := fileIn(t, filepath.Join(dist, "kubectl-bland-"+p+".tar.gz"), "kubectl_complete-bland"); !strings.Contains(string(got), "kubectl-bland __complete") {
				t.Errorf("kubectl-bland-%s.tar.gz lacks the completion shim", p)
			}
		}
		manifest, _ := os.ReadFile(filepath.Join(dist, "bland.yaml"))
		if !strings.Contains(string(manifest), "{from: LICENSE, to: .}") {
			t.Errorf("bland.yaml does not install the LICENSE:\n%s", manifest)
		}
	})

	t.Run("install.yaml carries the detach warning policy", func(t *testing.T) {
		install, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(install), "kind: ValidatingAdmissionPolicyBinding") {
			t.Error("install.yaml lacks the detach warning policy")
		}
	})

	t.Run("crds.yaml holds exactly the CRDs", func(t *testing.T) {
		crds, err := os.ReadFile(filepath.Join(dist, "crds.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		defined, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
		if err != nil || len(defined) == 0 {
			t.Fatalf("no CRDs in config/crd/bases: %v", err)
		}
		if n := strings.Count(string(crds), "kind: CustomResourceDefinition"); n != len(defined) || strings.Contains(string(crds), "kind: Deployment") {
			t.Errorf("crds.yaml has %d CRDs (want the %d of config/crd/bases) or more than CRDs", n, len(defined))
		}
	})
}

// extract writes one file of a .tar.gz into a temporary folder, executable.
func extract(t *testing.T, archive, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, fileIn(t, archive, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// chartYAML returns Chart.yaml from a packaged chart.
func chartYAML(t *testing.T, path string) string {
	t.Helper()
	return string(fileIn(t, path, "bland-operator/Chart.yaml"))
}

// fileIn returns the content of one file of a .tar.gz.
func fileIn(t *testing.T, archive, name string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in %s: %v", name, archive, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}
