package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

const tenantSetup = `
apiVersion: personas.bland-operator.dev/v1alpha1
kind: ClusterBlandAccount
metadata: {name: production}
spec:
  secretRef: {namespace: telephony, name: bland-api-key}
  namespaceSelector: {matchLabels: {bland.example.com/tenant: "true"}}
---
apiVersion: personas.bland-operator.dev/v1alpha1
kind: PersonaBinding
metadata: {name: tenant-line, namespace: team-support}
spec:
  personaID: ` + personaID + `
  inboundNumbers: ["+14155550101", "+14155550102", "+14155550103"]
  accountRef: {name: production}
  detachLimit: 1
`

// checkTenantsAndDetachLimit runs after the main walk-through, with the
// manager and the simulator still running: a tenant binds numbers through a
// ClusterBlandAccount, then a change over its detach limit waits for approval.
func checkTenantsAndDetachLimit(t *testing.T, simURL string) {
	for _, check := range []struct{ verb, resource, want string }{
		{"watch", "namespaces", "yes"}, {"watch", "clusterblandaccounts.personas.bland-operator.dev", "yes"},
		{"create", "clusterblandaccounts.personas.bland-operator.dev", "no"}, {"list", "secrets", "no"},
	} {
		out, _, _ := kubectlAs(adminKube, "", "auth", "can-i", check.verb, check.resource, "--as="+managerUser, "-A")
		if got := strings.TrimSpace(out); got != check.want {
			t.Errorf("can the manager %s %s? %q, want %q", check.verb, check.resource, got, check.want)
		}
	}
	kubectl(t, "", "create", "namespace", "team-support")
	kubectl(t, "", "label", "namespace", "team-support", "bland.example.com/tenant=true")
	kubectl(t, tenantSetup, "apply", "-f", "-")
	kubectl(t, "", "wait", "-n", "team-support", "--for=condition=Ready", "pb/tenant-line", "--timeout=60s")
	kubectl(t, "", "wait", "--for=condition=Ready", "cba/production", "--timeout=60s")
	if out := kubectl(t, "", "get", "cba", "production", "-o", "jsonpath={.status.bindings}"); out != "1" {
		t.Errorf("the account counts %q bindings, want 1", out)
	}

	before := len(detaches(history(t, simURL)))
	kubectl(t, "", "patch", "pb", "-n", "team-support", "tenant-line", "--type=merge", "-p", `{"spec":{"inboundNumbers":[]}}`)
	kubectl(t, "", "wait", "-n", "team-support", "--for=condition=Stalled", "pb/tenant-line", "--timeout=60s")
	got := kubectl(t, "", "get", "pb", "-n", "team-support", "tenant-line", "-o",
		`jsonpath={.metadata.generation} {.status.conditions[?(@.type=="Ready")].reason} {.status.pendingDetach}`)
	fields := strings.Fields(got)
	if len(fields) < 3 || fields[1] != "DetachLimitExceeded" || !strings.Contains(got, "+14155550103") {
		t.Fatalf("over the detach limit the binding reads %q", got)
	}
	if n := len(detaches(history(t, simURL))); n != before {
		t.Fatalf("%d detach calls before any approval", n-before)
	}
	describe := strings.Join(strings.Fields(kubectl(t, "", "describe", "pb", "-n", "team-support", "tenant-line")), " ")
	approval := regexp.MustCompile(`personas\.bland-operator\.dev/approve-detach=(` + fields[0] + `:[0-9a-f]{12}) --overwrite`).FindStringSubmatch(describe)
	if approval == nil {
		t.Fatalf("kubectl describe does not say how to approve generation %s and its numbers:\n%s", fields[0], describe)
	}

	kubectl(t, "", "annotate", "pb", "-n", "team-support", "tenant-line", "personas.bland-operator.dev/approve-detach="+approval[1])
	kubectl(t, "", "wait", "-n", "team-support", "--for=condition=Ready", "pb/tenant-line", "--timeout=60s")
	d := detaches(history(t, simURL))
	if len(d) != before+1 || !slices.Equal(d[len(d)-1].Numbers, []string{"+14155550101", "+14155550102", "+14155550103"}) {
		t.Fatalf("after approval the simulator saw detaches %+v, want one more of the three numbers", d[before:])
	}
}
