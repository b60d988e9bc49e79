// Package podspec resolves what a kubelet resolves in a container's spec,
// for tests that run the manager binary as a Pod would run it, without a
// kubelet: $(VAR) references, fieldRef and resourceFieldRef values.
package podspec

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

var labelPathRE = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.+)'\]$`)

// FieldValue is a fieldRef's value for a Pod that runs as a local
// process: its metadata as written, loopback for its addresses.
func FieldValue(obj *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return obj.Name, nil
	case "metadata.namespace":
		return obj.Namespace, nil
	case "metadata.uid":
		return string(obj.UID), nil
	case "spec.nodeName":
		return "test-node", nil
	case "spec.serviceAccountName":
		return obj.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs":
		return "127.0.0.1", nil
	}
	if m := labelPathRE.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return obj.Labels[m[2]], nil
		}
		return obj.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("the field %s is one this stand-in cannot resolve", path)
}

// ResourceValue is a resourceFieldRef's value: the quantity divided by the
// divisor (1 by default), rounded up, as the kubelet computes it.
func ResourceValue(obj *corev1.Pod, c corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		for _, x := range obj.Spec.Containers {
			if x.Name == ref.ContainerName {
				c = x
			}
		}
	}
	var list corev1.ResourceList
	name := ref.Resource
	switch {
	case strings.HasPrefix(name, "limits."):
		list, name = c.Resources.Limits, strings.TrimPrefix(name, "limits.")
	case strings.HasPrefix(name, "requests."):
		list, name = c.Resources.Requests, strings.TrimPrefix(name, "requests.")
	default:
		return "", fmt.Errorf("resource %s is one this stand-in cannot resolve", ref.Resource)
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		// Unset, a kubelet gives the node's allocatable: say 8 CPUs, 8Gi.
		q = resource.MustParse(map[string]string{"cpu": "8", "memory": "8Gi", "ephemeral-storage": "100Gi"}[name])
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	v, d := big.NewInt(q.MilliValue()), big.NewInt(div.MilliValue())
	v.Add(v, new(big.Int).Sub(d, big.NewInt(1)))
	return v.Div(v, d).String(), nil
}

// Expand replaces $(NAME) with the value of NAME, as Kubernetes does in a
// container's command, args and env: an unknown name stays as written,
// and $$ is a literal $.
func Expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				if v, ok := vars[s[i+2:i+2+end]]; ok {
					b.WriteString(v)
					i += end + 2
					continue
				}
			}
			b.WriteByte('$')
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// Kubeconfig reaches the API server at server, trusting caData (PEM), with
// the bearer token alone: what a Pod's mounted ServiceAccount token gives.
func Kubeconfig(server string, caData []byte, user, token string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster: {server: %q, certificate-authority-data: %q}
users:
- name: %s
  user: {token: %q}
contexts:
- name: pod
  context: {cluster: envtest, user: %s}
current-context: pod
`, server, base64.StdEncoding.EncodeToString(caData), user, token, user)
}
