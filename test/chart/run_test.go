package chart

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/test/podspec"
)

// managerBin is the manager binary the test built.
var managerBin string

// TestTheManagerRunsAsTheChartRunsIt is what a kubelet would do with the
// chart, short of a container: helm installs the release, and the built
// manager binary runs with the Deployment's own args and env (the downward
// API resolved), authenticated with a token of the chart's ServiceAccount
// (a TokenRequest), so that only the chart's RBAC applies. Against the
// simulator, a binding goes Ready, and the readiness probe's path answers
// on the probe port. Only the listen addresses move to free ports.
func TestTheManagerRunsAsTheChartRunsIt(t *testing.T) {
	manager := filepath.Join(t.TempDir(), "manager")
	managerBin = manager
	build := exec.Command("go", "build", "-o", manager, "./cmd")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	// The CRDs may be there already, kept from another release.
	command(t, "", kubectlBin, "apply", "-f", filepath.Join(chartDir, "files", "crds"))

	for _, tc := range []struct {
		name    string
		values  []string
		account bool // the key is a ClusterBlandAccount's, in the release namespace
		tls     bool // metrics served with a certificate from a Secret
	}{
		{name: "defaults"},
		{name: "watched", values: []string{"--set", "watchNamespaces={%s}"}},
		{name: "account", values: []string{"--set", "watchNamespaces={%s}"}, account: true},
		{name: "tls", values: []string{"--set", "metrics.tls.secretName=metrics-tls"}, tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release, team := "run-"+tc.name, "team-"+tc.name
			sim := blandsim.New()
			srv := httptest.NewServer(sim)
			defer srv.Close()
			key, persona, number := "sk-"+tc.name, "persona-"+tc.name, fmt.Sprintf("+1415556%04d", len(tc.name))
			sim.AddAccount(tc.name, key, number)
			sim.AddPersona(key, persona, "Support")

			command(t, "", kubectlBin, "create", "namespace", release)
			command(t, "", kubectlBin, "create", "namespace", team)
			args := []string{"install", release, chartDir, "--namespace", release, "--wait=false",
				"--set", "crds.enabled=false", "--set", "replicaCount=1",
				"--set", "manager.blandAPIURL=" + srv.URL, "--set", "manager.allowInsecureAPIURL=true"}
			for _, v := range tc.values {
				args = append(args, strings.ReplaceAll(v, "%s", team))
			}
			helm(t, args...)
			defer helm(t, "uninstall", release, "--namespace", release)

			d := deploymentOf(t, release)
			pod := d.Spec.Template.Spec
			container := pod.Containers[0]
			probeAddr, metricsAddr := freePort(t), freePort(t)
			certDir := t.TempDir() // where the kubelet would mount the Secret
			var runArgs []string
			for _, a := range container.Args {
				switch {
				case strings.HasPrefix(a, "--metrics-cert-path="):
					a = "--metrics-cert-path=" + certDir
				case strings.HasPrefix(a, "--health-probe-bind-address="):
					a = "--health-probe-bind-address=" + probeAddr
				case strings.HasPrefix(a, "--metrics-bind-address="):
					a = "--metrics-bind-address=" + metricsAddr
				}
				runArgs = append(runArgs, a)
			}
			podName := release + "-7c9f8d6b5-x2kqp"
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBECONFIG=" + serviceAccountKubeconfig(t, release, pod.ServiceAccountName)}
			obj := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: release}, Spec: pod}
			vars := map[string]string{}
			for _, e := range container.Env {
				from, v, err := e.ValueFrom, podspec.Expand(e.Value, vars), error(nil)
				switch {
				case from == nil:
				case from.FieldRef != nil:
					v, err = podspec.FieldValue(obj, from.FieldRef.FieldPath)
				case from.ResourceFieldRef != nil:
					v, err = podspec.ResourceValue(obj, container, from.ResourceFieldRef)
				default:
					err = fmt.Errorf("a source this test cannot resolve")
				}
				if err != nil {
					t.Fatalf("env %s: %v", e.Name, err)
				}
				vars[e.Name] = v
				env = append(env, e.Name+"="+v)
			}
			// $(NAME) in args is the kubelet's: the container's env var.
			for i, a := range runArgs {
				runArgs[i] = podspec.Expand(a, vars)
			}
			var ca *testCA
			if tc.tls {
				ca = newTestCA(t)
				ca.issue(t, certDir, metricsName(release))
			}
			logPath := filepath.Join(t.TempDir(), "manager.log")
			logFile, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(manager, runArgs...)
			cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stop := sync.OnceFunc(func() {
				_ = cmd.Process.Signal(os.Interrupt)
				_ = cmd.Wait()
			})
			defer func() {
				stop()
				if t.Failed() {
					b, _ := os.ReadFile(logPath)
					t.Logf("---- manager log ----\n%s", b)
				}
			}()

			ref := "credentialsRef: {name: bland}"
			if tc.account {
				command(t, "", kubectlBin, "create", "secret", "generic", "bland-account", "-n", release, "--from-literal=apiKey="+key)
				command(t, fmt.Sprintf(`
apiVersion: personas.bland-operator.dev/v1alpha1
kind: ClusterBlandAccount
metadata: {name: %s}
spec:
  secretRef: {namespace: %s, name: bland-account}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %s}}
`, release, release, team), kubectlBin, "apply", "-f", "-")
				ref = "accountRef: {name: " + release + "}"
			} else {
				command(t, "", kubectlBin, "create", "secret", "generic", "bland", "-n", team, "--from-literal=apiKey="+key)
			}
			command(t, fmt.Sprintf(`
apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata: {name: support, namespace: %s}
spec:
  personaID: %s
  inboundNumbers: ["%s"]
  %s
`, team, persona, number, ref), kubectlBin, "apply", "-f", "-")
			command(t, "", kubectlBin, "wait", "-n", team, "--for=condition=Ready", "pb/support", "--timeout=60s")
			if tc.account {
				// An account is cluster-wide: a binding in a namespace this
				// release does not watch (another release's) still uses it,
				// and is counted and holds its deletion.
				other := "elsewhere-" + tc.name
				command(t, "", kubectlBin, "create", "namespace", other)
				command(t, fmt.Sprintf(`
apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata: {name: sales, namespace: %s}
spec:
  personaID: %s
  inboundNumbers: []
  accountRef: {name: %s}
`, other, persona, release), kubectlBin, "apply", "-f", "-")
				command(t, "", kubectlBin, "annotate", "cba", release, "recount=1") // no watch reaches the other namespace
				command(t, "", kubectlBin, "wait", "cba/"+release, "--for=jsonpath={.status.bindings}=2", "--timeout=30s")
				command(t, "", kubectlBin, "delete", "pb", "-n", other, "sales", "--timeout=30s")
			}
			if got := sim.Attached(persona); len(got) != 1 || got[0] != number {
				t.Fatalf("the persona has %v, want [%s]", got, number)
			}

			ready := container.ReadinessProbe.HTTPGet
			if ready == nil || ready.Port.String() != "probes" {
				t.Fatalf("the readiness probe is %+v, want an HTTP GET on the probes port", container.ReadinessProbe)
			}
			resp, err := http.Get("http://" + probeAddr + ready.Path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s answered %d: %s", ready.Path, resp.StatusCode, body)
			}
			// The Lease names the Pod that leads.
			holder, _ := command(t, "", kubectlBin, "get", "lease", "-n", release, release+"-bland-operator.personas.bland-operator.dev", "-o", "jsonpath={.spec.holderIdentity}")
			if strings.TrimSpace(holder) != podName {
				t.Errorf("the Lease's holder is %q, want the Pod's name %q", holder, podName)
			}
			b, _ := os.ReadFile(logPath)
			if !strings.Contains(string(b), "soft memory limit follows the container's") {
				t.Errorf("the manager did not take its memory limit from MEMORY_LIMIT; log:\n%s", b)
			}
			if tc.tls {
				// The scraper verifies the certificate against its CA, and a
				// renewed certificate is served without a restart.
				first := ca.served(t, metricsAddr, metricsName(release))
				renewed := ca.issue(t, certDir, metricsName(release))
				deadline := time.Now().Add(30 * time.Second)
				for got := first; got.Cmp(renewed) != 0; got = ca.served(t, metricsAddr, metricsName(release)) {
					if time.Now().After(deadline) {
						t.Fatalf("the metrics server still serves certificate %v 30s after %v replaced it", got, renewed)
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			command(t, "", kubectlBin, "delete", "pb", "-n", team, "support", "--timeout=60s")
			if tc.name != "defaults" {
				return
			}
			// helm test's hook, run the same way: its Pod's args and env, as
			// its own ServiceAccount. It passes while the manager leads and
			// fails, saying why, once the manager has stopped.
			selfTest := hookPod(t, release)
			if out, err := selfTest(); err != nil || !strings.Contains(out, podName+" leads") {
				t.Errorf("helm test's self-test with the manager running: %v\n%s", err, out)
			}
			stop()
			if out, err := selfTest(); err == nil || !strings.Contains(out, "no replica leads") {
				t.Errorf("helm test's self-test passed with the manager stopped: %v\n%s", err, out)
			}
		})
	}
}

// hookPod applies the release's helm test hooks but their Pod, and returns
// a function that runs the Pod's command with the built manager binary,
// its args and env, as the hook's ServiceAccount.
func hookPod(t *testing.T, release string) func() (string, error) {
	t.Helper()
	out, _ := command(t, "", helmBin, "get", "hooks", release, "-n", release)
	var pod *corev1.Pod
	var rest []string
	for _, doc := range strings.Split(out, "\n---") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.Object == nil {
			continue
		}
		if u.GetAnnotations()["helm.sh/hook"] != "test" {
			continue
		}
		if u.GetKind() == "Pod" {
			pod = convert[corev1.Pod](t, u)
			continue
		}
		rest = append(rest, doc)
	}
	if pod == nil || len(pod.Spec.Containers) != 1 || len(rest) == 0 {
		t.Fatalf("the release has no helm test Pod with its ServiceAccount and Role:\n%s", out)
	}
	command(t, strings.Join(rest, "\n---\n"), kubectlBin, "apply", "-f", "-")
	c := pod.Spec.Containers[0]
	if len(c.Command) != 1 || c.Command[0] != "/manager" {
		t.Fatalf("the helm test Pod runs %v, not the manager", c.Command)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBECONFIG=" + serviceAccountKubeconfig(t, release, pod.Spec.ServiceAccountName)}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
			t.Fatalf("helm test's env %s comes from a source this test cannot resolve", e.Name)
		}
		env = append(env, e.Name+"="+release)
	}
	return func() (string, error) {
		cmd := exec.Command(managerBin, c.Args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// deploymentOf reads the release's Deployment back from the API server.
func deploymentOf(t *testing.T, release string) *appsv1.Deployment {
	t.Helper()
	out, _ := command(t, "", kubectlBin, "get", "deployment", "-n", release, release+"-bland-operator", "-o", "yaml")
	var d appsv1.Deployment
	if err := yaml.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(d.Spec.Template.Spec.Containers))
	}
	return &d
}

// serviceAccountKubeconfig asks the API server for a token of the
// ServiceAccount (a TokenRequest, as the kubelet does) and writes a
// kubeconfig that uses only it.
func serviceAccountKubeconfig(t *testing.T, namespace, sa string) string {
	t.Helper()
	token, _ := command(t, "", kubectlBin, "create", "token", sa, "-n", namespace, "--duration=1h")
	server, _ := command(t, "", kubectlBin, "config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	ca, _ := command(t, "", kubectlBin, "config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
	caPEM, err := base64.StdEncoding.DecodeString(ca)
	if err != nil || server == "" {
		t.Fatalf("no server or CA in the admin kubeconfig (%q): %v", server, err)
	}
	kc := podspec.Kubeconfig(server, caPEM, sa, strings.TrimSpace(token))
	path := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort is a loopback address with a port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
