package chart

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// manager is the rendered Deployment's manager container.
func manager(t *testing.T, objs []unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	ds := find(objs, "Deployment", "*")
	if len(ds) != 1 {
		t.Fatalf("%d Deployments rendered", len(ds))
	}
	d := convert[appsv1.Deployment](t, ds[0])
	return d, d.Spec.Template.Spec.Containers[0]
}

func envNamed(c corev1.Container, name string) *corev1.EnvVar {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return nil
	}
	return &c.Env[i]
}

func TestCommonAnnotationsReachEveryObject(t *testing.T) {
	out, _ := helm(t, "template", "bo", chartDir, "--namespace", "ops",
		"--set", "commonAnnotations.team=voice",
		"--set", "serviceAccount.annotations.iam=role-a",
		"--set", "watchNamespaces={team-a}",
		"--set", "networkPolicy.enabled=true",
		"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
		"--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
		"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.prometheusRule.enabled=true")
	objs := objects(t, out)
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()] = true
		if o.GetAnnotations()["team"] != "voice" {
			t.Errorf("%s %s lacks commonAnnotations (has %v)", o.GetKind(), o.GetName(), o.GetAnnotations())
		}
	}
	for _, k := range []string{"CustomResourceDefinition", "Deployment", "ServiceAccount", "ClusterRole", "Role", "Service",
		"PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} {
		if !kinds[k] {
			t.Errorf("no %s rendered, so its annotations went unchecked", k)
		}
	}
	for _, sa := range find(objs, "ServiceAccount", "ops") {
		if sa.GetName() == "bo-bland-operator" && sa.GetAnnotations()["iam"] != "role-a" {
			t.Errorf("the manager's ServiceAccount lost its own annotations next to the common ones: %v", sa.GetAnnotations())
		}
	}
}

func TestImageNamesAndServiceAccountValues(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	out, _ := helm(t, "template", "bo", chartDir, "--namespace", "ops",
		"--set", "image.digest="+digest,
		"--set", "fullnameOverride=voice-ops",
		"--set", "serviceAccount.create=false",
		"--set", "serviceAccount.name=platform-sa",
		"--set", "manager.extraEnv[0].name=HTTPS_PROXY",
		"--set", "manager.extraEnv[0].value=http://proxy:3128")
	objs := objects(t, out)
	d, c := manager(t, objs)
	if want := "ghcr.io/bland-operator/bland-operator:" + appVersion(t) + "@" + digest; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	if d.Name != "voice-ops" || !slices.Contains(c.Args, "--leader-election-id=voice-ops.personas.bland-operator.dev") {
		t.Errorf("fullnameOverride not followed: Deployment %s, args %v", d.Name, c.Args)
	}
	if n := len(find(release(objs), "ServiceAccount", "*")); n != 0 {
		t.Errorf("serviceAccount.create=false still rendered %d ServiceAccounts", n)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "platform-sa" {
		t.Errorf("the Pod runs as %q, want platform-sa", d.Spec.Template.Spec.ServiceAccountName)
	}
	for _, u := range find(objs, "ClusterRoleBinding", "*") {
		b := convert[rbacv1.ClusterRoleBinding](t, u)
		if len(b.Subjects) != 1 || b.Subjects[0].Name != "platform-sa" {
			t.Errorf("%s binds %v, want platform-sa", b.Name, b.Subjects)
		}
	}
	if e := envNamed(c, "HTTPS_PROXY"); e == nil || e.Value != "http://proxy:3128" {
		t.Errorf("extraEnv did not reach the container: %v", c.Env)
	}

	refused, err := exec.Command(helmBin, "template", "bo", chartDir, "--set", "serviceAccount.create=false").CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "serviceAccount.name is required") {
		t.Errorf("serviceAccount.create=false without a name rendered (err %v): %s", err, refused)
	}
}

func TestMemoryLimitFollowsTheContainer(t *testing.T) {
	out, _ := helm(t, "template", "bo", chartDir)
	_, c := manager(t, objects(t, out))
	if e := envNamed(c, "GOMEMLIMIT"); e != nil {
		t.Errorf("GOMEMLIMIT=%q set by default; it should follow the limit", e.Value)
	}
	e := envNamed(c, "MEMORY_LIMIT")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Fatalf("MEMORY_LIMIT does not come from the container's memory limit: %+v", e)
	}
	out, _ = helm(t, "template", "bo", chartDir, "--set", "manager.goMemLimit=180MiB")
	_, c = manager(t, objects(t, out))
	if e := envNamed(c, "GOMEMLIMIT"); e == nil || e.Value != "180MiB" {
		t.Errorf("manager.goMemLimit=180MiB gave %+v", e)
	}
}

func TestDisruptionBudgetAndSpreadFollowTheReplicas(t *testing.T) {
	for _, tc := range []struct {
		replicas   string
		extra      []string
		pdb        bool
		spreadSoft bool
	}{
		{replicas: "1", pdb: false, spreadSoft: false},
		{replicas: "2", pdb: true, spreadSoft: true},
		{replicas: "3", extra: []string{"--set", "podDisruptionBudget.enabled=false"}, pdb: false, spreadSoft: true},
		{replicas: "2", extra: []string{"--set", "topologySpreadConstraints[0].maxSkew=1", "--set", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
			"--set", "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule"}, pdb: true},
	} {
		args := append([]string{"template", "bo", chartDir, "--set", "replicaCount=" + tc.replicas}, tc.extra...)
		out, _ := helm(t, args...)
		objs := objects(t, out)
		if got := len(find(objs, "PodDisruptionBudget", "*")) == 1; got != tc.pdb {
			t.Errorf("replicaCount=%s %v: PodDisruptionBudget rendered %v, want %v", tc.replicas, tc.extra, got, tc.pdb)
		}
		d, _ := manager(t, objs)
		spread := d.Spec.Template.Spec.TopologySpreadConstraints
		soft := len(spread) == 1 && spread[0].TopologyKey == "kubernetes.io/hostname" && spread[0].WhenUnsatisfiable == corev1.ScheduleAnyway
		if soft != tc.spreadSoft {
			t.Errorf("replicaCount=%s %v: spread %+v, want the soft default %v", tc.replicas, tc.extra, spread, tc.spreadSoft)
		}
		if len(tc.extra) == 6 && (len(spread) != 1 || spread[0].TopologyKey != "topology.kubernetes.io/zone") {
			t.Errorf("the user's spread was replaced: %+v", spread)
		}
	}
}
