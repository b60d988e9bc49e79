package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAManagerStoppedBeforeItsCachesSyncedStillExits stops a manager that
// may list nothing: it exits (once the API timeout and a margin have
// passed) instead of hanging on its stopped start.
func TestAManagerStoppedBeforeItsCachesSyncedStillExits(t *testing.T) {
	kubectl(t, "", "apply", "-k", "config/crd")
	kube, err := writeKubeconfig(testEnv, envtestUser("e2e-unsynced"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddress(t)
	p := start(t, "manager", []string{"KUBECONFIG=" + kube},
		"--bland-api-url", "http://127.0.0.1:1", "--allow-insecure-api-url", "--api-timeout", "1s",
		"--metrics-bind-address", "0", "--health-probe-bind-address", addr)
	waitForProbe(t, addr, "/healthz", http.StatusOK) // running, its caches unsynced
	if code, _ := probe(addr, "/readyz"); code == http.StatusOK {
		t.Fatal("/readyz is OK though the manager may list nothing")
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if !strings.Contains(fmt.Sprint(err), "exit status") {
			t.Fatalf("the manager ended with %v, not by exiting on its own", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the manager still runs a minute after it was stopped")
	}
}

// TestReadyzWaitsForTheCaches starts the manager as a user who may not
// list what it watches: it is alive (/healthz) but not Ready (/readyz)
// until it may, so a Deployment never counts such a replica available.
func TestReadyzWaitsForTheCaches(t *testing.T) {
	kubectl(t, "", "apply", "-k", "config/crd")
	const user = "e2e-readyz"
	kube, err := writeKubeconfig(testEnv, envtestUser(user))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddress(t)
	start(t, "manager", []string{"KUBECONFIG=" + kube},
		"--bland-api-url", "http://127.0.0.1:1", "--allow-insecure-api-url",
		"--metrics-bind-address", "0", "--health-probe-bind-address", addr)

	waitForProbe(t, addr, "/healthz", http.StatusOK)
	if code, body := probe(addr, "/readyz"); code == http.StatusOK {
		t.Fatalf("/readyz is OK though the manager may list nothing: %s", body)
	}

	kubectl(t, "", "create", "clusterrolebinding", user, "--clusterrole=cluster-admin", "--user="+user)
	waitForProbe(t, addr, "/readyz", http.StatusOK)
}

// probe asks the manager's probe endpoint.
func probe(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitForProbe polls a probe endpoint until it answers want.
func waitForProbe(t *testing.T, addr, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := probe(addr, path)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d (%s), want %d", path, code, body, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeAddress is a loopback address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
}
