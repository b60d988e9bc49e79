package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The files that name the version, relative to the repository root, and the
// scripts that move and check it.
var versionFiles = []string{
	"Makefile",
	"CHANGELOG.md",
	"config/manager/kustomization.yaml",
	"charts/bland-operator/Chart.yaml",
	"hack/bump.sh",
	"hack/verify-version.sh",
}

func repoRoot() string { return filepath.Join("..", "..") }

// runMake runs make in dir with an environment free of the calling make's
// variables (make release-test passes its own command line down through
// MAKEFLAGS) and returns its combined output.
func runMake(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VERSION", "IMG", "RELEASE_TAG":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyVersionFiles copies the version's files into a temporary tree laid out
// as the repository is.
func copyVersionFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range versionFiles {
		b, err := os.ReadFile(filepath.Join(repoRoot(), name))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rewrite replaces the one match of re in the file.
func rewrite(t *testing.T, path, re, with string) {
	t.Helper()
	s := read(t, path)
	r := regexp.MustCompile(re)
	if n := len(r.FindAllStringIndex(s, -1)); n != 1 {
		t.Fatalf("%s: %d matches of %s, want 1", path, n, re)
	}
	if err := os.WriteFile(path, []byte(r.ReplaceAllString(s, with)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makefileVersion is the one place the version is written.
func makefileVersion(t *testing.T, dir string) string {
	t.Helper()
	out, err := runMake(t, dir, "-s", "print-VERSION")
	if err != nil {
		t.Fatalf("make print-VERSION: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

func TestTheVersionPlacesAgree(t *testing.T) {
	if out, err := runMake(t, repoRoot(), "verify-version"); err != nil {
		t.Fatalf("make verify-version on the checkout: %v\n%s", err, out)
	}
}

func TestBuildsStampTheVersion(t *testing.T) {
	version := makefileVersion(t, repoRoot())
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(version) {
		t.Fatalf("the Makefile's VERSION is %q, not a release version", version)
	}
	for target, want := range map[string][]string{
		"docker-build":  {"--build-arg VERSION=" + version + " ", "-t ghcr.io/bland-operator/bland-operator:" + version + " "},
		"docker-buildx": {"--build-arg VERSION=" + version + " ", "--tag ghcr.io/bland-operator/bland-operator:" + version + " ", "--sbom=true", "--provenance=mode=max"},
		"build":         {"-X main.version=" + version + `"`},
	} {
		out, err := runMake(t, repoRoot(), "-n", target)
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("make %s does not run with %q:\n%s", target, w, out)
			}
		}
	}
}

func TestBumpMovesEveryPlace(t *testing.T) {
	dir := copyVersionFiles(t)
	old := makefileVersion(t, dir)
	const next = "v9.8.7-rc.1"

	if out, err := runMake(t, dir, "bump"); err == nil || !strings.Contains(out, "make bump VERSION=vX.Y.Z") {
		t.Errorf("make bump without VERSION should refuse and say how: %v\n%s", err, out)
	}
	if out, err := runMake(t, dir, "bump", "VERSION=9.8.7"); err == nil {
		t.Errorf("make bump VERSION=9.8.7 (no v) should refuse:\n%s", out)
	}
	for i := 0; i < 2; i++ { // twice: a second bump to the same version changes nothing
		if out, err := runMake(t, dir, "bump", "VERSION="+next); err != nil {
			t.Fatalf("make bump: %v\n%s", err, out)
		}
	}

	if got := makefileVersion(t, dir); got != next {
		t.Errorf("Makefile VERSION is %s after the bump, want %s", got, next)
	}
	checks := map[string][]string{
		"config/manager/kustomization.yaml": {"\n  newTag: " + next + "\n"},
		"charts/bland-operator/Chart.yaml":  {"\nversion: 9.8.7-rc.1\n", "\nappVersion: " + next + "\n"},
		"CHANGELOG.md":                      {"\n## [Unreleased]\n\n## [9.8.7-rc.1] - unreleased\n"},
	}
	for file, wants := range checks {
		s := read(t, filepath.Join(dir, file))
		for _, w := range wants {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q after the bump", file, w)
			}
		}
		if strings.Contains(s, ": "+old+"\n") {
			t.Errorf("%s still names %s after the bump", file, old)
		}
	}
	if n := strings.Count(read(t, filepath.Join(dir, "CHANGELOG.md")), "## [9.8.7-rc.1]"); n != 1 {
		t.Errorf("CHANGELOG.md has %d headings for the new version, want 1", n)
	}
	if out, err := runMake(t, dir, "verify-version"); err != nil {
		t.Fatalf("make verify-version after make bump: %v\n%s", err, out)
	}

	t.Run("a release tag must be the version, and its heading dated", func(t *testing.T) {
		out, err := runMake(t, dir, "verify-version", "RELEASE_TAG=v9.8.8")
		if err == nil || !strings.Contains(out, "'v9.8.8'") || !strings.Contains(out, "'"+next+"'") {
			t.Errorf("a tag other than VERSION passed, or the message lacks the two versions: %v\n%s", err, out)
		}
		out, err = runMake(t, dir, "verify-version", "RELEASE_TAG="+next)
		if err == nil || !strings.Contains(out, "CHANGELOG.md") || !strings.Contains(out, "unreleased") {
			t.Errorf("a tag whose CHANGELOG heading says unreleased passed: %v\n%s", err, out)
		}
		tagged := copyVersionFiles(t)
		if out, err := runMake(t, tagged, "bump", "VERSION="+next); err != nil {
			t.Fatalf("make bump: %v\n%s", err, out)
		}
		rewrite(t, filepath.Join(tagged, "CHANGELOG.md"), `(?m)^## \[9\.8\.7-rc\.1\] - unreleased$`, "## [9.8.7-rc.1] - 2030-01-02")
		if out, err := runMake(t, tagged, "verify-version", "RELEASE_TAG="+next); err != nil {
			t.Errorf("a tag equal to VERSION with a dated heading failed: %v\n%s", err, out)
		}
	})

	// Each place out of step on its own: the check fails, naming the file and
	// both versions.
	for _, c := range []struct {
		file, re, with, found string
	}{
		{"config/manager/kustomization.yaml", `(?m)^  newTag: .*$`, "  newTag: v9.8.6", "v9.8.6"},
		{"charts/bland-operator/Chart.yaml", `(?m)^version: .*$`, "version: 9.8.6", "9.8.6"},
		{"charts/bland-operator/Chart.yaml", `(?m)^appVersion: .*$`, "appVersion: v9.8.6", "v9.8.6"},
		{"Makefile", `(?m)^IMG \?= .*$`, "IMG ?= ghcr.io/bland-operator/bland-operator:v9.8.6", "v9.8.6"},
		// Without its heading, the newest one is the old version's.
		{"CHANGELOG.md", `(?m)^## \[9\.8\.7-rc\.1\] - unreleased\n\n`, "", "## [" + strings.TrimPrefix(old, "v") + "]"},
	} {
		t.Run("drift in "+c.file+" "+c.found, func(t *testing.T) {
			broken := copyVersionFiles(t)
			if out, err := runMake(t, broken, "bump", "VERSION="+next); err != nil {
				t.Fatalf("make bump: %v\n%s", err, out)
			}
			rewrite(t, filepath.Join(broken, c.file), c.re, c.with)
			out, err := runMake(t, broken, "verify-version")
			if err == nil {
				t.Fatalf("make verify-version passed with %s out of step:\n%s", c.file, out)
			}
			for _, w := range []string{c.file + ":", c.found, next} {
				if !strings.Contains(out, w) {
					t.Errorf("the message lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// Every action a workflow uses is pinned to a full commit, with the version
// it stands for beside it; the release workflow grants nothing by default.
func TestWorkflowsPinTheirActions(t *testing.T) {
	pinned := regexp.MustCompile(`^\s*(- )?uses: [A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)
	files, err := filepath.Glob(filepath.Join(repoRoot(), ".github", "workflows", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	for _, f := range files {
		for i, line := range strings.Split(read(t, f), "\n") {
			if strings.Contains(line, "uses:") && !pinned.MatchString(line) {
				t.Errorf("%s:%d: not pinned to a commit with its version: %s", filepath.Base(f), i+1, strings.TrimSpace(line))
			}
		}
	}
	release := read(t, filepath.Join(repoRoot(), ".github", "workflows", "release.yaml"))
	if !regexp.MustCompile(`(?m)^permissions: \{\}$`).MatchString(release) {
		t.Error("release.yaml does not start from permissions: {}")
	}
	for _, w := range []string{"--sbom=true", "--provenance=mode=max", "sign-blob --yes --bundle", "needs: [smoke"} {
		if !strings.Contains(release, w) {
			t.Errorf("release.yaml lacks %q", w)
		}
	}
}
