package e2e

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// managerDeployment renders config/manager and returns its Deployment.
func managerDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	for _, doc := range strings.Split(kubectl(t, "", "kustomize", "config/manager"), "\n---\n") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err == nil && d.Kind == "Deployment" {
			return &d
		}
	}
	t.Fatal("config/manager renders no Deployment")
	return nil
}

func TestManagerMeetsTheRestrictedPodSecurityStandard(t *testing.T) {
	const ns = "psa-restricted"
	kubectl(t, "", "create", "namespace", ns)
	kubectl(t, "", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")

	d := managerDeployment(t)
	d.Namespace = ns
	deployment, _ := yaml.Marshal(d)
	_, warnings, err := kubectlAs(adminKube, string(deployment), "apply", "--dry-run=server", "-f", "-")
	if err != nil || strings.Contains(warnings, "PodSecurity") {
		t.Fatalf("the Deployment is not admitted cleanly: %v\n%s", err, warnings)
	}

	pod := func(spec corev1.PodSpec) string {
		p := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: ns}, Spec: spec}
		b, _ := yaml.Marshal(p)
		return string(b)
	}
	if _, out, err := kubectlAs(adminKube, pod(d.Spec.Template.Spec), "apply", "--dry-run=server", "-f", "-"); err != nil {
		t.Fatalf("the manager's Pod is rejected in a restricted namespace: %v\n%s", err, out)
	}

	// The check can fail: the same Pod without its security context is refused.
	bare := *d.Spec.Template.Spec.DeepCopy()
	bare.SecurityContext, bare.Containers[0].SecurityContext = nil, nil
	if _, _, err := kubectlAs(adminKube, pod(bare), "apply", "--dry-run=server", "-f", "-"); err == nil {
		t.Fatal("a Pod without a security context was admitted: the namespace does not enforce restricted")
	}
}
