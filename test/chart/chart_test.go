// Package chart tests the Helm chart with the real helm CLI: lint, template
// with default and non-default values, install into a real API server (a
// namespace enforcing the restricted Pod Security Standard), and uninstall,
// which must leave the CRDs and the bindings in place.
package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

var (
	root       = filepath.Join("..", "..")
	chartDir   = filepath.Join(root, "charts", "bland-operator")
	helmBin    string
	kubectlBin string
	kubeconfig string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets, helm := os.Getenv("KUBEBUILDER_ASSETS"), os.Getenv("HELM")
	if assets == "" || helm == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS and HELM must be set: run with `make chart-test`")
		return 1
	}
	var err error
	if helmBin, err = filepath.Abs(helm); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectlBin = filepath.Join(assets, "kubectl")
	env := &envtest.Environment{}
	if _, err := env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "chart-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "bland-chart-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// command runs a binary and returns its stdout and stderr.
func command(t *testing.T, stdin, bin string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

func helm(t *testing.T, args ...string) (string, string) {
	t.Helper()
	return command(t, "", helmBin, args...)
}

// objects splits rendered YAML into objects.
func objects(t *testing.T, rendered string) []unstructured.Unstructured {
	t.Helper()
	var out []unstructured.Unstructured
	for _, doc := range strings.Split(rendered, "\n---") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if u.Object != nil && u.GetKind() != "" {
			out = append(out, u)
		}
	}
	return out
}

// appVersion is the chart's appVersion, the image tag by default.
func appVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil || c.AppVersion == "" {
		t.Fatalf("no appVersion in Chart.yaml: %v", err)
	}
	return c.AppVersion
}

// release drops helm test's hooks: what helm install leaves running.
func release(objs []unstructured.Unstructured) []unstructured.Unstructured {
	var out []unstructured.Unstructured
	for _, o := range objs {
		if o.GetAnnotations()["helm.sh/hook"] != "test" {
			out = append(out, o)
		}
	}
	return out
}

func find(objs []unstructured.Unstructured, kind, namespace string) []unstructured.Unstructured {
	var out []unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (namespace == "*" || o.GetNamespace() == namespace) {
			out = append(out, o)
		}
	}
	return out
}

func convert[T any](t *testing.T, u unstructured.Unstructured) *T {
	t.Helper()
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func grants(rules []rbacv1.PolicyRule, resource string) bool {
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, resource) })
}

func TestHelmLint(t *testing.T) {
	out, _ := helm(t, "lint", chartDir, "--strict")
	if !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint:\n%s", out)
	}
}

func TestTemplateWithDefaults(t *testing.T) {
	out, _ := helm(t, "template", "bo", chartDir, "--namespace", "bland-operator-system")
	objs := objects(t, out)

	crds := find(objs, "CustomResourceDefinition", "*")
	if want := crdCount(t); len(crds) != want {
		t.Fatalf("%d CRDs rendered, want %d (config/crd/bases)", len(crds), want)
	}
	for _, crd := range crds {
		for k, v := range keptBy {
			if crd.GetAnnotations()[k] != v {
				t.Errorf("CRD %s lacks %s: %s", crd.GetName(), k, v)
			}
		}
	}
	deployments := find(objs, "Deployment", "bland-operator-system")
	if len(deployments) != 1 {
		t.Fatalf("%d Deployments", len(deployments))
	}
	d := convert[appsv1.Deployment](t, deployments[0])
	if grace := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; grace <= 30 {
		t.Errorf("terminationGracePeriodSeconds %d is not longer than the 30s API timeout", grace)
	}
	if image := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(image, ":"+appVersion(t)) {
		t.Errorf("image %q does not default to the chart's appVersion", image)
	}
	var clusterRules []rbacv1.PolicyRule
	for _, u := range find(objs, "ClusterRole", "*") {
		if u.GetName() == "bo-bland-operator-cluster" {
			clusterRules = convert[rbacv1.ClusterRole](t, u).Rules
		}
	}
	for _, resource := range []string{"personabindings", "secrets", "namespaces", "clusterblandaccounts"} {
		if !grants(clusterRules, resource) {
			t.Errorf("no ClusterRole grants %s", resource)
		}
	}
	aggregated := map[string]string{}
	for _, u := range find(objs, "ClusterRole", "*") {
		for k := range u.GetLabels() {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
				aggregated[u.GetName()] = k
			}
		}
	}
	for role, want := range map[string]string{
		"bo-bland-operator-personabinding-viewer":      "rbac.authorization.k8s.io/aggregate-to-view",
		"bo-bland-operator-personabinding-editor":      "rbac.authorization.k8s.io/aggregate-to-edit",
		"bo-bland-operator-clusterblandaccount-viewer": "rbac.authorization.k8s.io/aggregate-to-view",
		"bo-bland-operator-clusterblandaccount-editor": "",
	} {
		if aggregated[role] != want {
			t.Errorf("ClusterRole %s aggregates to %q, want %q", role, aggregated[role], want)
		}
	}
	if len(find(release(objs), "Role", "*")) != 1 { // leader election only
		t.Errorf("unexpected Roles with default values")
	}
	if len(find(objs, "PodDisruptionBudget", "*")) != 1 {
		t.Errorf("no PodDisruptionBudget for the default two replicas")
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} {
		if len(find(objs, kind, "*")) != 0 {
			t.Errorf("%s rendered though it is off by default", kind)
		}
	}
	// The detach warning policy renders with plain helm template: the chart
	// requires 1.30, which serves it, so nothing asks the cluster.
	policies, bindings := find(objs, "ValidatingAdmissionPolicy", "*"), find(objs, "ValidatingAdmissionPolicyBinding", "*")
	if len(policies) != 1 || len(bindings) != 1 || policies[0].GetName() != "bo-bland-operator-detach-warning" {
		t.Fatalf("the detach warning policy is not rendered by default: %d policies, %d bindings", len(policies), len(bindings))
	}
	if ref, _, _ := unstructured.NestedString(bindings[0].Object, "spec", "policyName"); ref != policies[0].GetName() {
		t.Errorf("the policy binding names %q, not the policy %q", ref, policies[0].GetName())
	}
	off, _ := helm(t, "template", "bo", chartDir, "--set", "admissionWarnings.enabled=false")
	if len(find(objects(t, off), "ValidatingAdmissionPolicy", "*")) != 0 {
		t.Error("the detach warning policy rendered with admissionWarnings.enabled=false")
	}
}

// keptBy are the annotations that keep a CRD from being deleted when it
// leaves the rendered chart: by helm, by an Argo CD prune, by a Flux prune.
var keptBy = map[string]string{
	"helm.sh/resource-policy":           "keep",
	"argocd.argoproj.io/sync-options":   "Prune=false,Delete=false",
	"kustomize.toolkit.fluxcd.io/prune": "disabled",
}

// crdCount is how many CRDs the project defines (config/crd/bases).
func crdCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	return len(files)
}

// TestCRDValuesAndTheirOldNames checks crds.enabled and crds.keep, that the
// old crds.install and replicas are still read, and that the kustomize install protects its CRDs the same way.
func TestCRDValuesAndTheirOldNames(t *testing.T) {
	count := func(args ...string) (crds int, annotated int) {
		out, _ := helm(t, append([]string{"template", "bo", chartDir}, args...)...)
		for _, crd := range find(objects(t, out), "CustomResourceDefinition", "*") {
			crds++
			if crd.GetAnnotations()["kustomize.toolkit.fluxcd.io/prune"] != "" {
				annotated++
			}
		}
		return crds, annotated
	}
	all := crdCount(t)
	for _, tt := range []struct {
		set             string
		crds, annotated int
	}{
		{"crds.enabled=true", all, all},
		{"crds.enabled=false", 0, 0},
		{"crds.install=false", 0, 0},
		{"crds.keep=false", all, 0},
	} {
		if crds, annotated := count("--set", tt.set); crds != tt.crds || annotated != tt.annotated {
			t.Errorf("--set %s: %d CRDs, %d protected; want %d and %d", tt.set, crds, annotated, tt.crds, tt.annotated)
		}
	}
	for set, want := range map[string]int32{"replicaCount=3": 3, "replicas=1": 1} {
		out, _ := helm(t, "template", "bo", chartDir, "--set", set)
		d := convert[appsv1.Deployment](t, find(objects(t, out), "Deployment", "*")[0])
		if *d.Spec.Replicas != want {
			t.Errorf("--set %s: %d replicas, want %d", set, *d.Spec.Replicas, want)
		}
	}

	kustomized, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range keptBy {
		if k != "helm.sh/resource-policy" && !strings.Contains(string(kustomized), k+": "+v) {
			t.Errorf("config/crd does not annotate its CRDs with %s: %s", k, v)
		}
	}
}

func TestTemplateWithEverythingOn(t *testing.T) {
	out, _ := helm(t, "template", "bo", chartDir, "--namespace", "ops",
		"--set", "watchNamespaces={team-a,team-b}",
		"--set", "podDisruptionBudget.enabled=true",
		"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.prometheusRule.enabled=true",
		"--set", "networkPolicy.enabled=true",
		"--set", "crds.install=false",
		"--set", "manager.defaultDetachLimit=10",
		"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
		"--api-versions", "monitoring.coreos.com/v1/PrometheusRule")
	objs := objects(t, out)

	if n := len(find(objs, "CustomResourceDefinition", "*")); n != 0 {
		t.Errorf("crds.install=false still rendered %d CRDs", n)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		roles := find(objs, "Role", ns)
		if len(roles) != 1 || !grants(convert[rbacv1.Role](t, roles[0]).Rules, "personabindings") || !grants(convert[rbacv1.Role](t, roles[0]).Rules, "secrets") {
			t.Errorf("namespace %s has no Role for bindings and Secrets", ns)
		}
	}
	for _, u := range find(objs, "ClusterRole", "*") {
		if u.GetName() != "bo-bland-operator-cluster" {
			continue // the roles for people are bound by people
		}
		// Only a list of bindings, to count an account's users in every
		// namespace: no watch, no write, no Secret.
		for _, r := range convert[rbacv1.ClusterRole](t, u).Rules {
			if slices.Contains(r.Resources, "secrets") || (slices.Contains(r.Resources, "personabindings") && !slices.Equal(r.Verbs, []string{"list"})) {
				t.Errorf("the manager's ClusterRole grants %v on %v cluster-wide though namespaces are watched", r.Verbs, r.Resources)
			}
		}
	}
	out, _ = helm(t, "template", "bo", chartDir, "--namespace", "ops", "--set", "watchNamespaces={team-a}", "--set", "manageAccounts=false")
	for _, u := range find(objects(t, out), "ClusterRole", "*") {
		if u.GetName() == "bo-bland-operator-cluster" && grants(convert[rbacv1.ClusterRole](t, u).Rules, "personabindings") {
			t.Errorf("a release that does not manage accounts still lists bindings cluster-wide")
		}
	}
	d := convert[appsv1.Deployment](t, find(objs, "Deployment", "ops")[0])
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--watch-namespaces=team-a,team-b", "--default-detach-limit=10", "--leader-elect=true",
		"--leader-election-id=bo-bland-operator.personas.bland-operator.dev"} {
		if !strings.Contains(args, want) {
			t.Errorf("manager args %q lack %s", args, want)
		}
	}
	if len(find(objs, "PodDisruptionBudget", "ops")) != 1 || len(find(objs, "NetworkPolicy", "ops")) != 1 || len(find(objs, "PrometheusRule", "ops")) != 1 {
		t.Error("the PodDisruptionBudget, NetworkPolicy or PrometheusRule is missing")
	}
	sm := find(objs, "ServiceMonitor", "ops")
	if len(sm) != 1 {
		t.Fatal("no ServiceMonitor")
	}
	endpoint, _, _ := unstructured.NestedSlice(sm[0].Object, "spec", "endpoints")
	ep := endpoint[0].(map[string]any)
	if ep["honorLabels"] != false || ep["authorization"] == nil || ep["bearerTokenFile"] != nil {
		t.Errorf("ServiceMonitor endpoint %v: want honorLabels false, authorization and no bearerTokenFile", ep)
	}
}

func TestInstallAndUninstall(t *testing.T) {
	const ns = "bland-operator-system"
	command(t, "", kubectlBin, "create", "namespace", ns)
	command(t, "", kubectlBin, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")

	installed, warnings := helm(t, "install", "bo", chartDir, "--namespace", ns, "--set", "podDisruptionBudget.enabled=true", "--set", "networkPolicy.enabled=true", "--wait=false")
	t.Logf("helm install:\n%s", installed)
	if strings.Contains(warnings, "PodSecurity") {
		t.Errorf("the Deployment is not admitted cleanly in a restricted namespace:\n%s", warnings)
	}
	// envtest runs no controllers, so no Pod is made: admit one from the
	// Deployment's template, as the ReplicaSet controller would.
	out, _ := command(t, "", kubectlBin, "get", "deployment", "-n", ns, "bo-bland-operator", "-o", "yaml")
	var d appsv1.Deployment
	if err := yaml.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	pod, _ := yaml.Marshal(corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: ns}, Spec: d.Spec.Template.Spec})
	command(t, string(pod), kubectlBin, "apply", "--dry-run=server", "-f", "-")

	command(t, "", kubectlBin, "create", "namespace", "telephony")
	command(t, `
apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata: {name: support-line, namespace: telephony}
spec:
  personaID: persona-1
  inboundNumbers: ["+14155550101"]
  credentialsRef: {name: bland-api-key}
`, kubectlBin, "apply", "-f", "-")

	helm(t, "uninstall", "bo", "--namespace", ns)
	command(t, "", kubectlBin, "get", "crd", "personabindings.personas.bland-operator.dev", "clusterblandaccounts.personas.bland-operator.dev")
	command(t, "", kubectlBin, "get", "pb", "-n", "telephony", "support-line")
	if out, _ := command(t, "", kubectlBin, "get", "deployment", "-n", ns, "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("helm uninstall left %s", out)
	}
}

// TestValuesSchemaRefusesBadValues checks values.schema.json: a duration
// without its unit (which would crash-loop the manager), an unknown level,
// a negative count and a misspelt key are refused by helm lint and by helm
// template (as helm install would), naming the value; good values pass.
func TestValuesSchemaRefusesBadValues(t *testing.T) {
	for _, tt := range []struct{ set, names string }{
		{"leaderElection.leaseDuration=15", "/leaderElection/leaseDuration"},
		{"manager.apiTimeout=30", "/manager/apiTimeout"},
		{"manager.logLevel=verbose", "/manager/logLevel"},
		{"replicaCount=-1", "/replicaCount"},
		{"replcaCount=2", "replcaCount"},
		{"metrics.serviceMonitor.interval=30", "/metrics/serviceMonitor/interval"},
	} {
		for _, verb := range []string{"lint", "template"} {
			cmd := exec.Command(helmBin, verb, chartDir, "--set-string", tt.set)
			if strings.HasSuffix(tt.set, "=-1") {
				cmd = exec.Command(helmBin, verb, chartDir, "--set", tt.set)
			}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.names) {
				t.Errorf("helm %s --set %s: %v, want a refusal naming %s\n%s", verb, tt.set, err, tt.names, out)
			}
		}
	}
	for _, args := range [][]string{{"--set-string", "leaderElection.leaseDuration=1m30s"}, {"--set-string", "manager.apiTimeout=45s"},
		{"--set", "manager.logLevel=debug"}, {"--set", "replicas=1"}, {"--set", "crds.install=false"}} {
		if out, err := exec.Command(helmBin, append([]string{"template", chartDir}, args...)...).CombinedOutput(); err != nil {
			t.Errorf("helm template %v refused: %s", args, out)
		}
	}
}
