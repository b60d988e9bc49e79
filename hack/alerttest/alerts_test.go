// Package alerttest validates the operator's alert rules with Prometheus' own
// rule parser and evaluates each alert's expression on scripted series with
// Prometheus' PromQL test language. It is a module of its own so that the
// operator does not depend on Prometheus' server packages.
package alerttest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"go.yaml.in/yaml/v3"
)

// rules reads config/prometheus/alerts.yaml and returns its groups as a
// Prometheus rule file, and each alert's expression by name.
func rules(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec struct {
			Groups []map[string]any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	file, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g["rules"].([]any) {
			rule := r.(map[string]any)
			// One line, as the test language wants it.
			exprs[rule["alert"].(string)] = strings.Join(strings.Fields(rule["expr"].(string)), " ")
		}
	}
	return file, exprs
}

func TestTheRulesParse(t *testing.T) {
	file, _ := rules(t)
	p := parser.NewParser(parser.Options{})
	if _, errs := rulefmt.Parse(file, false, model.UTF8Validation, p, nil); len(errs) > 0 {
		t.Fatalf("the alert rules do not parse: %v", errs)
	}
}

// Each alert's expression on a scripted series: silent while things are
// fine, firing with the expected labels and value when they are not.
const script = `
load 1m
  up{job="bland-operator-controller-manager-metrics-service"} 1x10 0x20
  bland_operator_bindings{ready="False", reason="DetachLimitExceeded"} 2x30
  bland_operator_bindings{ready="False", reason="APIError"} 5x30
  bland_operator_bindings{ready="True", reason="Synced"} 9x30
  controller_runtime_reconcile_errors_total{controller="persona"} 0x10 0+60x20
  bland_operator_binding_deletion_timestamp_seconds{namespace="telephony", name="old"} 0x40
  bland_operator_api_calls_total{endpoint="attach_numbers", outcome="success"} 0+60x30
  bland_operator_api_calls_total{endpoint="attach_numbers", outcome="server_error"} 0x10 0+30x20
  bland_operator_api_calls_total{endpoint="get_persona", outcome="rate_limited"} 0x10 0+6x20

eval instant at 5m {{ .BlandOperatorAbsent }}

eval instant at 25m {{ .BlandOperatorAbsent }}
  {} 1

eval instant at 20m {{ .PersonaBindingStalled }}
  {reason="DetachLimitExceeded"} 2

eval instant at 8m {{ .PersonaBindingReconcileErrors }}

eval instant at 25m {{ .PersonaBindingReconcileErrors }}
  {} 1

eval instant at 20m {{ .PersonaBindingDeletionHeld }}

eval instant at 40m {{ .PersonaBindingDeletionHeld }}
  {namespace="telephony", name="old"} 2400

eval instant at 8m {{ .BlandAPIErrorRate }}

# 30 failures a minute out of 96 calls (success, server_error, rate_limited).
eval instant at 25m {{ .BlandAPIErrorRate }}
  {} 0.3125

eval instant at 8m {{ .BlandRateLimited }}

eval instant at 25m {{ .BlandRateLimited }}
  {} 0.1
`

func TestEachAlertFiresOnlyWhenItShould(t *testing.T) {
	_, exprs := rules(t)
	tmpl := template.Must(template.New("script").Option("missingkey=error").Parse(script))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, exprs); err != nil {
		t.Fatalf("an alert the script tests is missing: %v", err)
	}
	if len(exprs) != 6 {
		t.Errorf("%d alerts, the script tests 6: add the new one to it", len(exprs))
	}
	promqltest.RunTest(t, b.String(), promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery))
}
