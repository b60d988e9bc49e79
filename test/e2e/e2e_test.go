// Package e2e installs the operator as a user would: the manifests from config/
// applied with the real kubectl, the manager binary run as its own process with
// the credentials of an RBAC-limited user, the Bland simulator binary behind it.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	personaID   = "12345678-1234-1234-1234-123456789012"
	managerUser = "e2e-manager"
	operatorNS  = "bland-operator-system"
)

var (
	root       = filepath.Join("..", "..")
	kubectlBin string
	adminKube  string
	userKube   string
	binDir     string
	testEnv    *envtest.Environment
)

func envtestUser(name string) envtest.User { return envtest.User{Name: name} }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run with `make e2e`")
		return 1
	}
	kubectlBin = filepath.Join(assets, "kubectl")
	var err error
	if binDir, err = os.MkdirTemp("", "bland-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(binDir) }()
	// Built exactly as the Dockerfile builds the image's binary.
	for name, pkg := range map[string]string{"manager": "./cmd", "blandsim": "./cmd/blandsim"} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(binDir, name), pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", name, err, out)
			return 1
		}
	}

	env := &envtest.Environment{}
	testEnv = env
	if _, err := env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if adminKube, err = writeKubeconfig(env, envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if userKube, err = writeKubeconfig(env, envtest.User{Name: managerUser}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func writeKubeconfig(env *envtest.Environment, user envtest.User) (string, error) {
	u, err := env.AddUser(user, nil)
	if err != nil {
		return "", err
	}
	b, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(binDir, user.Name+".kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// kubectl runs the real kubectl as the cluster admin and fails the test on error.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := kubectlAs(adminKube, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func kubectlAs(kubeconfig, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// process is a binary started by a test, its output kept in a file.
type process struct {
	cmd *exec.Cmd
	log string
}

func start(t *testing.T, name string, env []string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		// Stop it as Kubernetes would: a signal, then a kill past the grace.
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s log ----\n%s", name, b)
		}
	})
	return p
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// simulatorURL waits for the simulator to say where it listens.
func (p *process) simulatorURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open(p.log)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m := listening.FindStringSubmatch(sc.Text()); m != nil {
					_ = f.Close()
					return m[1]
				}
			}
			_ = f.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the simulator never said where it listens")
	return ""
}

// simCall is the part of a simulator history entry the tests read.
type simCall struct {
	Endpoint string   `json:"endpoint"`
	Numbers  []string `json:"numbers"`
	Status   int      `json:"status"`
}

func history(t *testing.T, simURL string) []simCall {
	t.Helper()
	resp, err := http.Get(simURL + "/_sim/history")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var calls []simCall
	if err := json.Unmarshal(b, &calls); err != nil {
		t.Fatalf("history: %v: %s", err, b)
	}
	return calls
}

func detaches(calls []simCall) []simCall {
	var out []simCall
	for _, c := range calls {
		if c.Endpoint == "detach" {
			out = append(out, c)
		}
	}
	return out
}
