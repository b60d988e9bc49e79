package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lastRelease is the commit of the last release, 0.2.0 (see CHANGELOG.md):
// it kept the record of an attach in flight in the binding's status, the
// form an upgrade must still read.
const lastRelease = "aa90861e479d3cba953f66e86c42cbd05abd84f6"

var (
	releaseOnce sync.Once
	releaseBin  string
	releaseErr  error
)

// releaseManager returns the last release's manager binary, built from the
// repository's history once per machine and kept in the user's cache (the
// build takes a few minutes; later runs reuse it). A checkout without that
// history (a source archive) skips the test that needs it.
func releaseManager(t *testing.T) string {
	t.Helper()
	bin, missing, err := lastReleaseBinary()
	switch {
	case err != nil:
		t.Fatal(err)
	case missing != "":
		t.Skip(missing)
	}
	return bin
}

// lastReleaseBinary is releaseManager for a caller that goes on without it:
// the binary, or what is missing for it. A failed build is an error.
func lastReleaseBinary() (bin, missing string, err error) {
	root := filepath.Join("..", "..")
	if err := exec.Command("git", "-C", root, "cat-file", "-e", lastRelease+"^{commit}").Run(); err != nil {
		return "", fmt.Sprintf("this checkout does not have the last release's commit %s (a source archive, or a shallow clone): %v", lastRelease[:7], err), nil
	}
	releaseOnce.Do(func() { releaseBin, releaseErr = buildRelease(root) })
	if releaseErr != nil {
		return "", "", fmt.Errorf("building the last release's manager: %w", releaseErr)
	}
	return releaseBin, "", nil
}

func buildRelease(root string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "bland-operator", "release", lastRelease)
	bin := filepath.Join(dir, "manager")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src, err := os.MkdirTemp("", "bland-release-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(src) }()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", root, lastRelease, src))
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %w: %s", lastRelease[:7], err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	build := exec.Command("go", "build", "-o", bin+".partial", "./cmd")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=") // the release's own go.mod and go.sum, as released
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, os.Rename(bin+".partial", bin)
}
