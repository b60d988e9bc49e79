package e2e

import (
	"slices"
	"strings"
	"testing"
)

const binding = `
apiVersion: v1
kind: Secret
metadata: {name: bland-api-key, namespace: telephony}
stringData: {apiKey: e2e-key}
---
apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata: {name: support-line, namespace: telephony}
spec:
  personaID: ` + personaID + `
  inboundNumbers: ["+14155550101", "+14155550102", "+14155550103"]
  credentialsRef: {name: bland-api-key}
`

func TestInstalledOperatorWorksThroughKubectl(t *testing.T) {
	// Install the CRD, RBAC and Deployment exactly as config/default renders them.
	kubectl(t, "", "apply", "-k", "config/default")
	kubectl(t, "", "wait", "--for=condition=Established", "crd/personabindings.personas.bland-operator.dev", "--timeout=30s")

	// The manager runs as a user bound to the generated roles, nothing more.
	kubectl(t, "", "create", "clusterrolebinding", "e2e-manager", "--clusterrole=bland-operator-manager-role", "--user="+managerUser)
	kubectl(t, "", "create", "rolebinding", "e2e-leader", "-n", operatorNS, "--role=bland-operator-leader-election-role", "--user="+managerUser)
	for _, check := range []struct{ verb, resource, want string }{
		{"get", "secrets", "yes"}, {"list", "secrets", "no"}, {"watch", "secrets", "no"},
		{"patch", "personabindings.personas.bland-operator.dev/status", "yes"}, {"delete", "personabindings.personas.bland-operator.dev", "no"},
	} {
		out, _, _ := kubectlAs(adminKube, "", "auth", "can-i", check.verb, check.resource, "--as="+managerUser, "-A")
		if got := strings.TrimSpace(out); got != check.want {
			t.Errorf("can the manager %s %s? %q, want %q", check.verb, check.resource, got, check.want)
		}
	}

	sim := start(t, "blandsim", nil, "--listen", "127.0.0.1:0", "--api-key", "e2e-key",
		"--personas", personaID+"=Support Agent", "--numbers", "+14155550101,+14155550102,+14155550103")
	simURL := sim.simulatorURL(t)
	start(t, "manager", []string{"KUBECONFIG=" + userKube},
		"--bland-api-url", simURL, "--allow-insecure-api-url",
		"--leader-elect", "--leader-election-namespace", operatorNS,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")

	kubectl(t, "", "create", "namespace", "telephony")
	kubectl(t, binding, "apply", "-f", "-")
	kubectl(t, "", "wait", "-n", "telephony", "--for=condition=Ready", "pb/support-line", "--timeout=60s")
	if out := kubectl(t, "", "get", "pb", "-n", "telephony", "support-line", "-o", "jsonpath={.status.summary}"); out != "3/3" {
		t.Fatalf("summary %q, want 3/3", out)
	}

	kubectl(t, "", "patch", "pb", "-n", "telephony", "support-line", "--type=json", "-p", `[{"op":"remove","path":"/spec/inboundNumbers/2"}]`)
	kubectl(t, "", "wait", "-n", "telephony", "--for=condition=Ready", "pb/support-line", "--timeout=60s")
	d := detaches(history(t, simURL))
	if len(d) != 1 || !slices.Equal(d[0].Numbers, []string{"+14155550103"}) {
		t.Fatalf("after dropping a number the simulator saw detaches %+v, want one of +14155550103", d)
	}

	kubectl(t, "", "delete", "pb", "-n", "telephony", "support-line", "--timeout=60s")
	d = detaches(history(t, simURL))
	if len(d) != 2 || !slices.Equal(d[1].Numbers, []string{"+14155550101", "+14155550102"}) {
		t.Fatalf("after deletion the simulator saw detaches %+v, want a second one of the two remaining numbers", d)
	}
}
