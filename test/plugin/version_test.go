package plugin

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// version prints the plugin's version and each operator Deployment the
// cluster shows, with its version label and manager image; usage is
// written as kubectl runs the plugin.
func TestVersionNamesThePluginAndTheOperator(t *testing.T) {
	namespace(t, "version-op")
	labels := map[string]string{"app.kubernetes.io/name": "bland-operator"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "version-op", Name: "bland-operator",
			Labels: map[string]string{"app.kubernetes.io/name": "bland-operator", "app.kubernetes.io/version": "v9.8.7"}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "ghcr.io/bland-operator/bland-operator:v9.8.7"}}},
			},
		},
	}
	must(t, k8s.Create(context.Background(), d))
	out, code := bland(t, "default", "version")
	if code != 0 || !strings.Contains(out, "plugin: ") || !strings.Contains(out, "operator: version-op/bland-operator v9.8.7 (ghcr.io/bland-operator/bland-operator:v9.8.7)") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
	help, _ := exec.Command(plugin, "--help").CombinedOutput()
	if !strings.Contains(string(help), "kubectl bland [command]") {
		t.Errorf("usage is not written as kubectl bland:\n%s", help)
	}
}
