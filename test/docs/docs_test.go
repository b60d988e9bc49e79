// Package docs runs the documentation: every fenced shell block (```sh,
// ```bash, ```shell, ```console) of README.md and docs/*.md, as a reader
// would paste it, against a real API server.
//
// Each page gets its own world, and its blocks run in page order in it:
//
//   - a real kube-apiserver and etcd (envtest), with kubectl (envtest's) and
//     helm (the project's pinned helm, $HELM) first on PATH, an admin
//     kubeconfig in ~/.kube/config, and a temporary HOME;
//   - a copy of the working tree as the working directory (so that
//     charts/bland-operator, config/ and make targets work and may write),
//     with the versioned tools of bin/ linked into it;
//   - the Bland simulator (internal/blandsim, served by httptest) with one
//     account, whose key is exported as $BLAND_API_KEY (it also takes
//     demo-key, the key of config/samples and make demo), owning the numbers
//     +14155550100 to +14155550119, +14155551234 and +14155555678, and the
//     personas 12345678-1234-1234-1234-123456789012 ("Support Agent") and
//     87654321-4321-4321-4321-210987654321 ("Sales Agent"), and the agent
//     support-agent (one saved version; staging available);
//   - a stand-in for the kubelet and the Deployment controller (see
//     kubelet), because envtest runs no Pods: once a block installs the
//     chart (helm install or upgrade) or the kustomize install (kubectl
//     apply -k, or -f dist/install.yaml), the built manager binary runs,
//     once per replica of each Deployment of the manager, as its Pod would:
//     the Deployment's own container args and env, $(VAR) references
//     expanded, downward API values resolved, and a token of its
//     ServiceAccount. The deviations from the Deployment, and the only
//     ones, are: the listen addresses (probes, metrics) move to free
//     loopback ports and pprof is off; --bland-api-url points at the
//     simulator, with --allow-insecure-api-url; and where the Pod would
//     read its namespace from the ServiceAccount mount for leader election
//     (no POD_NAMESPACE, no flag), --leader-election-namespace gives it. A
//     Pod object stands for each process and the Deployment's status is
//     written, so kubectl get pods, kubectl wait on Pods and kubectl
//     rollout status work; kubectl logs and exec do not, helm --wait would
//     wait for ReplicaSets that never come, and the Pod's volumes are not
//     mounted (a manager told to read its metrics certificate from one
//     would not start here).
//
// Each block runs with bash -euo pipefail and a timeout of two minutes; the
// shell variables and functions it sets and the directory it ends in carry
// over to the next block, as in one terminal. A ```console block is a
// transcript: its `$ ` lines (with their `\` continuations) run, the rest is
// output. DOCS_TEST_OUTPUT=1 logs every block's output and what the
// stand-in started; DOCS_TEST_PAGES=a.md,b.md runs only those pages.
//
// A block that cannot run here is marked on the line just before its fence
// with <!-- docs-test: skip: <reason> -->; a skip without a reason fails
// the test. A page whose examples assume something (an installed operator,
// the binding they name) sets it up in a hidden comment, which runs like a
// block; a check that what the page claims came true is written the same
// way with check: instead of setup:.
//
//	<!-- docs-test: setup: <what it sets up>
//	commands
//	-->
//
// Waits in the docs (kubectl wait --for=condition=Ready ...) are what makes
// a page deterministic; nothing here sleeps. The test logs, per page and in
// total, how many blocks ran and how many were skipped.
package docs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bland-operator/bland-operator/internal/blandsim"
)

var (
	root    = filepath.Join("..", "..")
	helmBin string
	assets  string
)

// blockTimeout bounds one block.
const blockTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	var err error
	if root, err = filepath.Abs(root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if h := os.Getenv("HELM"); h != "" {
		if helmBin, err = filepath.Abs(h); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	assets = os.Getenv("KUBEBUILDER_ASSETS")
	logf.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// pages are README.md and docs/*.md, relative to the root; or, to work on
// a few, the comma-separated paths in $DOCS_TEST_PAGES.
func pages(t *testing.T) []string {
	t.Helper()
	if only := os.Getenv("DOCS_TEST_PAGES"); only != "" {
		return strings.Split(only, ",")
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md"}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		out = append(out, rel)
	}
	sort.Strings(out[1:])
	return out
}

type tally struct{ run, skipped, setup int }

func TestDocs(t *testing.T) {
	if assets == "" || helmBin == "" {
		t.Fatal("KUBEBUILDER_ASSETS and HELM must be set: run with `make docs-test`")
	}
	tmp := t.TempDir()
	manager := filepath.Join(tmp, "manager")
	build := exec.Command("go", "build", "-o", manager, "./cmd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	tree := workingTree(t)
	goEnv := goCaches(t)

	counts := map[string]*tally{}
	files := pages(t)
	start := time.Now()
	for _, file := range files {
		path := file
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, file)
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		items, errs := parse(file, string(text))
		for _, err := range errs {
			t.Error(err)
		}
		c := &tally{}
		counts[file] = c
		for _, it := range items {
			if it.kind == skipped {
				c.skipped++
			}
		}
		if !slices.ContainsFunc(items, func(it item) bool { return it.kind != skipped }) {
			continue
		}
		t.Run(file, func(t *testing.T) {
			w := newWorld(t, tree, manager, goEnv)
			for _, it := range items {
				switch it.kind {
				case skipped:
					t.Logf("%s: skipped: %s", it.where(), it.reason)
					continue
				case setup:
					c.setup++
				case run:
					c.run++
				}
				if !w.runBlock(t, it) {
					t.Errorf("%s: stopped at the first failing block; the blocks after it were not run", file)
					return
				}
			}
		})
	}

	var b strings.Builder
	var total tally
	fmt.Fprintf(&b, "blocks per page (hidden: setup and check comments, not counted as run):\n")
	for _, file := range files {
		c := counts[file]
		total.run, total.skipped, total.setup = total.run+c.run, total.skipped+c.skipped, total.setup+c.setup
		if *c == (tally{}) {
			continue
		}
		fmt.Fprintf(&b, "  %-26s run %2d  skipped %2d  hidden %2d\n", file, c.run, c.skipped, c.setup)
	}
	fmt.Fprintf(&b, "  %-26s run %2d  skipped %2d  hidden %2d  (%s)", "total", total.run, total.skipped, total.setup, time.Since(start).Round(time.Second))
	t.Log(b.String())
}

// world is one page's environment.
type world struct {
	work, home, state string
	env               []string
	kubelet           *kubelet
}

func newWorld(t *testing.T, tree []string, manager string, goEnv []string) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{work: filepath.Join(dir, "work"), home: filepath.Join(dir, "home"), state: filepath.Join(dir, "state")}
	for _, d := range []string{w.home, w.state, filepath.Join(dir, "tools"), filepath.Join(dir, "pods")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyTree(t, tree, w.work)

	// The control plane, and an admin kubeconfig where kubectl and helm
	// look by default.
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "docs-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(w.home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.home, ".kube", "config"), kc, 0o600); err != nil {
		t.Fatal(err)
	}

	// The simulator, and the account the docs use.
	key := "sk-docs-" + randomHex()
	sim := blandsim.New()
	numbers := []string{"+14155551234", "+14155555678"}
	for i := range 20 {
		numbers = append(numbers, fmt.Sprintf("+141555501%02d", i))
	}
	sim.AddAccount("docs", key, numbers...)
	sim.AddAccount("docs", "demo-key")
	sim.AddPersona(key, "12345678-1234-1234-1234-123456789012", "Support Agent")
	sim.AddPersona(key, "87654321-4321-4321-4321-210987654321", "Sales Agent")
	sim.AddAgent(key, "support-agent", blandsim.AgentOptions{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)

	tools := filepath.Join(dir, "tools")
	for name, target := range map[string]string{"kubectl": filepath.Join(assets, "kubectl"), "helm": helmBin} {
		if err := os.Symlink(target, filepath.Join(tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	w.env = blockEnv(tools, w.home, key, goEnv)
	if err := os.WriteFile(filepath.Join(w.state, "pwd"), []byte(w.work+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	k, err := newKubelet(cfg, manager, srv.URL, filepath.Join(dir, "pods"))
	if err != nil {
		t.Fatal(err)
	}
	go k.run()
	t.Cleanup(func() {
		k.close()
		if t.Failed() || os.Getenv("DOCS_TEST_OUTPUT") != "" {
			for _, n := range k.notes {
				t.Logf("kubelet stand-in: %s", n)
			}
		}
	})
	w.kubelet = k
	return w
}

// blockEnv is the environment of every block: the caller's, less what
// points at another cluster or HOME, plus the tools, the key and Go's
// caches (HOME moved; the build cache should not).
func blockEnv(tools, home, key string, goEnv []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || name == "HOME" || name == "PATH" || name == "BLAND_API_KEY" ||
			strings.HasPrefix(name, "XDG_") || strings.HasPrefix(name, "HELM_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+home, "BLAND_API_KEY="+key)
	return append(env, goEnv...)
}

// prelude restores the shell variables and functions the blocks before
// left and the directory they ended in, as one terminal keeps them; the
// trap saves them for the next block. Bash's own and read-only variables
// are left out.
const prelude = `if [[ -f "$DOCS_TEST_STATE/vars" ]]; then source "$DOCS_TEST_STATE/vars"; fi
cd "$(cat "$DOCS_TEST_STATE/pwd")"
trap '{ declare -p | grep -Ev "^declare -[a-zA-Z]*r" | grep -Ev "^declare -[-a-zA-Z]* (BASH[A-Z_]*|FUNCNAME|PIPESTATUS|RANDOM|SRANDOM|LINENO|SECONDS|EPOCHSECONDS|EPOCHREALTIME|HISTCMD|GROUPS|DIRSTACK|COLUMNS|LINES|OPTIND|OPTARG|OPTERR|PWD|OLDPWD|SHLVL|_|PPID|UID|EUID|SHELLOPTS|BASHOPTS|IFS|PS[0-9]|DOCS_TEST_STATE)(=|$)"; declare -f; } >"$DOCS_TEST_STATE/vars"; pwd >"$DOCS_TEST_STATE/pwd"' EXIT
`

// runBlock runs one block and says whether it passed.
func (w *world) runBlock(t *testing.T, it item) bool {
	t.Helper()
	script := filepath.Join(w.state, "block.sh")
	if err := os.WriteFile(script, []byte(prelude+it.script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", script)
	cmd.Dir = w.work
	cmd.Env = append(slices.Clone(w.env), "DOCS_TEST_STATE="+w.state)
	cmd.Stdin = strings.NewReader("")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began).Round(100 * time.Millisecond)
	// What the block started or stopped is settled before the next one.
	w.kubelet.sync()
	what := "block"
	if it.kind == setup {
		what = it.reason
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", blockTimeout)
		}
		t.Errorf("%s: %s failed: %v\n---- the block ----\n%s---- its output ----\n%s---- the cluster's managers ----\n%s",
			it.where(), what, err, it.script, tail(out.String(), 80), w.kubelet.report())
		return false
	}
	t.Logf("%s: %s ran (%s)", it.where(), what, took)
	if os.Getenv("DOCS_TEST_OUTPUT") != "" {
		t.Logf("%s", out.String())
	}
	return true
}

// workingTree lists the files of the working tree that git knows or would
// add (tracked and untracked, not ignored), relative to the root.
func workingTree(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// versionedTool is a tool the Makefile pins (bin/helm-v3.22.0); other
// files in bin/ are build outputs, which a block should make itself.
var versionedTool = regexp.MustCompile(`-v[0-9]+\.[0-9]+`)

// copyTree copies the working tree's files to dst, and links the pinned
// tools of bin/ so that make finds them.
func copyTree(t *testing.T, files []string, dst string) {
	t.Helper()
	for _, f := range files {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		to := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, to, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dst, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	tools, _ := os.ReadDir(filepath.Join(root, "bin"))
	for _, e := range tools {
		if versionedTool.MatchString(e.Name()) {
			if err := os.Symlink(filepath.Join(root, "bin", e.Name()), filepath.Join(bin, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// goCaches keeps Go's caches where they are when HOME moves.
func goCaches(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "-json", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		env = append(env, k+"="+m[k])
	}
	return env
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
