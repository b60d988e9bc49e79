package podspec

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/clientcmd"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"POD_NAME": "web-1", "NS": "ops"}
	for in, want := range map[string]string{
		"--leader-election-identity=$(POD_NAME)": "--leader-election-identity=web-1",
		"$(NS)/$(POD_NAME)":                      "ops/web-1",
		"$$(POD_NAME)":                           "$(POD_NAME)",
		"$(UNKNOWN) stays":                       "$(UNKNOWN) stays",
		"a lone $ and $(":                        "a lone $ and $(",
	} {
		if got := Expand(in, vars); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResourceValue(t *testing.T) {
	c := corev1.Container{Name: "manager", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	for _, tc := range []struct {
		ref  corev1.ResourceFieldSelector
		want string
	}{
		{corev1.ResourceFieldSelector{Resource: "limits.memory"}, "268435456"},
		{corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, "256"},
		{corev1.ResourceFieldSelector{Resource: "limits.cpu"}, "1"}, // rounded up, as the kubelet does
		{corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}, "500"},
	} {
		got, err := ResourceValue(pod, c, &tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("%s / %s: got %q, %v; want %q", tc.ref.Resource, tc.ref.Divisor.String(), got, err, tc.want)
		}
	}
}

func TestKubeconfigCarriesOnlyTheToken(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	cfg, err := clientcmd.Load(Kubeconfig("https://127.0.0.1:6443", ca, "system:serviceaccount:ops:sa", "tok\"en"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cluster.Server != "https://127.0.0.1:6443" || string(cluster.CertificateAuthorityData) != string(ca) {
		t.Errorf("cluster %+v", cluster)
	}
	if user.Token != "tok\"en" || user.ClientCertificateData != nil || user.Username != "" {
		t.Errorf("user %+v, want the token alone", user)
	}
}
