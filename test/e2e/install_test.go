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
	// Install the CRD, RBAC, Deployment and detach warning policy exactly as
	// config/default renders them.
	kubectl(t, "", "apply", "-k", "config/default")
	kubectl(t, "", "wait", "--for=condition=Established", "crd/personabindings.personas.bland-operator.dev",
		"crd/clusterblandaccounts.personas.bland-operator.dev", "--timeout=30s")
	// The detach warning policy comes with it, its binding naming it.
	if ref := kubectl(t, "", "get", "validatingadmissionpolicybinding", "bland-operator-detach-warning", "-o", "jsonpath={.spec.policyName}"); ref != "bland-operator-detach-warning" {
		t.Errorf("config/default's policy binding names %q", ref)
	}
	kubectl(t, "", "get", "validatingadmissionpolicy", "bland-operator-detach-warning")

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

	t.Run("printer columns read well", func(t *testing.T) {
		out := kubectl(t, "", "get", "pb", "-n", "telephony", "-o", "wide")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"NAME", "PERSONA", "PERSONA", "ID", "NUMBERS", "READY", "REASON", "AGE"}) {
			t.Errorf("columns %q", lines[0])
		}
		if got := strings.Fields(lines[1]); len(got) < 6 || got[1] != "Support" || got[4] != "3/3" || got[5] != "True" || got[6] != "Synced" {
			t.Errorf("row %q", lines[1])
		}
		short := kubectl(t, "", "get", "bland", "-n", "telephony") // the category
		if !strings.Contains(short, "support-line") {
			t.Errorf("kubectl get bland does not list the binding:\n%s", short)
		}
	})
	t.Run("kubectl explain documents every field", func(t *testing.T) {
		out := strings.Join(strings.Fields(kubectl(t, "", "explain", "personabinding.spec")), " ")
		for _, want := range []string{"personaID", "inboundNumbers", "credentialsRef", "numberSettings", "exclusive",
			"deletionPolicy", "suspend", "resyncInterval", "create a new binding", "E.164"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl explain personabinding.spec lacks %q", want)
			}
		}
	})

	// kubectl wait right after an update returns only once that generation is done.
	kubectl(t, "", "patch", "pb", "-n", "telephony", "support-line", "--type=json", "-p", `[{"op":"remove","path":"/spec/inboundNumbers/2"}]`)
	kubectl(t, "", "wait", "-n", "telephony", "--for=condition=Ready", "pb/support-line", "--timeout=60s")
	gens := kubectl(t, "", "get", "pb", "-n", "telephony", "support-line", "-o", "jsonpath={.metadata.generation} {.status.observedGeneration} {.status.summary}")
	if f := strings.Fields(gens); len(f) != 3 || f[0] != "2" || f[1] != "2" || f[2] != "2/2" {
		t.Fatalf("kubectl wait returned before the change was done: generation, observedGeneration, summary = %q", gens)
	}
	d := detaches(history(t, simURL))
	if len(d) != 1 || !slices.Equal(d[0].Numbers, []string{"+14155550103"}) {
		t.Fatalf("after dropping a number the simulator saw detaches %+v, want one of +14155550103", d)
	}

	kubectl(t, "", "delete", "pb", "-n", "telephony", "support-line", "--timeout=60s")
	d = detaches(history(t, simURL))
	if len(d) != 2 || !slices.Equal(d[1].Numbers, []string{"+14155550101", "+14155550102"}) {
		t.Fatalf("after deletion the simulator saw detaches %+v, want a second one of the two remaining numbers", d)
	}

	t.Run("a tenant binds through a ClusterBlandAccount and a large detach waits for approval", func(t *testing.T) {
		checkTenantsAndDetachLimit(t, simURL)
	})
}
