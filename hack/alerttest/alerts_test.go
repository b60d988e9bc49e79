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
  bland_operator_binding_deletion_timestamp_seconds{namespace="ops", exported_namespace="billing", name="old"} 0x40
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

# Scraped with honorLabels true (namespace is the binding's) or false (the
# binding's namespace is exported_namespace): bindings of one name in two
# namespaces stay apart.
eval instant at 40m {{ .PersonaBindingDeletionHeld }}
  {namespace="telephony", name="old"} 2400
  {namespace="ops", exported_namespace="billing", name="old"} 2400

eval instant at 8m {{ .BlandAPIErrorRate }}

# 30 failures a minute out of 96 calls (success, server_error, rate_limited).
eval instant at 25m {{ .BlandAPIErrorRate }}
  {} 0.3125

eval instant at 8m {{ .BlandRateLimited }}

eval instant at 25m {{ .BlandRateLimited }}
  {} 0.1

clear

# Two accounts: team-a/bland meets 429s from 5m on and its pace stays at a
# quarter; team-b/bland is never limited. Only team-a is throttled, once its
# pace has been low for the whole window.
load 1m
  bland_operator_account_calls_total{account="team-a/bland", outcome="success"} 0+6x40
  bland_operator_account_calls_total{account="team-a/bland", outcome="rate_limited"} 0x5 0+3x35
  bland_operator_account_pace_ratio{account="team-a/bland"} 1x5 0.25x35
  bland_operator_account_calls_total{account="team-b/bland", outcome="success"} 0+60x40
  bland_operator_account_pace_ratio{account="team-b/bland"} 1x40

eval instant at 12m {{ .BlandAccountThrottled }}

eval instant at 25m {{ .BlandAccountThrottled }}
  {account="team-a/bland"} 45

clear

# Four releases in namespace ops, each its own job: "led" has a leader all
# along; "lost" loses it at 10m (every replica reports 0); "stuck" is up but
# never enters the election (no series); "down" is not up at all, which
# BlandOperatorAbsent reports, not this alert.
load 1m
  up{namespace="ops", job="led-bland-operator-metrics", pod="led-1"} 1x30
  up{namespace="ops", job="led-bland-operator-metrics", pod="led-2"} 1x30
  leader_election_master_status{namespace="ops", job="led-bland-operator-metrics", pod="led-1", name="led.personas.bland-operator.dev"} 1x30
  leader_election_master_status{namespace="ops", job="led-bland-operator-metrics", pod="led-2", name="led.personas.bland-operator.dev"} 0x30
  up{namespace="ops", job="lost-bland-operator-metrics", pod="lost-1"} 1x30
  up{namespace="ops", job="lost-bland-operator-metrics", pod="lost-2"} 1x30
  leader_election_master_status{namespace="ops", job="lost-bland-operator-metrics", pod="lost-1", name="lost.personas.bland-operator.dev"} 1x10 0x20
  leader_election_master_status{namespace="ops", job="lost-bland-operator-metrics", pod="lost-2", name="lost.personas.bland-operator.dev"} 0x30
  up{namespace="ops", job="stuck-bland-operator-metrics", pod="stuck-1"} 1x30
  up{namespace="ops", job="down-bland-operator-metrics", pod="down-1"} 0x30

eval instant at 5m {{ .BlandOperatorNoLeader }}
  {namespace="ops", job="stuck-bland-operator-metrics"} 1

eval instant at 20m {{ .BlandOperatorNoLeader }}
  {namespace="ops", job="lost-bland-operator-metrics"} 1
  {namespace="ops", job="stuck-bland-operator-metrics"} 1

clear

# "deep" piles up 150 personas on its leader from 10m, and its standby holds
# them all along (its watches are warm, it works nothing); "idle" has 500 on
# its standby alone; "solo" runs without leader election and piles up 120
# from 20m. "slow" keeps its queue short, but from 20m one item in six waits
# 30s for a worker: queue waits are a histogram (buckets 1s, 10s, 100s
# here), 60 items a minute.
load 1m
  workqueue_depth{namespace="ops", job="deep-bland-operator-metrics", instance="10.0.0.1:8443", name="persona", controller="persona", priority="0"} 3x10 150x30
  workqueue_depth{namespace="ops", job="deep-bland-operator-metrics", instance="10.0.0.1:8443", name="clusterblandaccount", controller="clusterblandaccount", priority="0"} 0x40
  leader_election_master_status{namespace="ops", job="deep-bland-operator-metrics", instance="10.0.0.1:8443", name="deep.personas.bland-operator.dev"} 1x40
  workqueue_depth{namespace="ops", job="deep-bland-operator-metrics", instance="10.0.0.2:8443", name="persona", controller="persona", priority="0"} 150x40
  leader_election_master_status{namespace="ops", job="deep-bland-operator-metrics", instance="10.0.0.2:8443", name="deep.personas.bland-operator.dev"} 0x40
  workqueue_depth{namespace="ops", job="idle-bland-operator-metrics", instance="10.0.1.1:8443", name="persona", controller="persona", priority="0"} 2x40
  leader_election_master_status{namespace="ops", job="idle-bland-operator-metrics", instance="10.0.1.1:8443", name="idle.personas.bland-operator.dev"} 1x40
  workqueue_depth{namespace="ops", job="idle-bland-operator-metrics", instance="10.0.1.2:8443", name="persona", controller="persona", priority="0"} 500x40
  leader_election_master_status{namespace="ops", job="idle-bland-operator-metrics", instance="10.0.1.2:8443", name="idle.personas.bland-operator.dev"} 0x40
  workqueue_depth{namespace="ops", job="solo-bland-operator-metrics", instance="10.0.2.1:8443", name="persona", controller="persona", priority="0"} 0x20 120x20
  workqueue_depth{namespace="ops", job="slow-bland-operator-metrics", instance="10.0.3.1:8443", name="persona", controller="persona", priority="0"} 2x40
  workqueue_queue_duration_seconds_bucket{namespace="ops", job="slow-bland-operator-metrics", instance="10.0.3.1:8443", name="persona", controller="persona", le="1"} 0+60x20 1250+50x19
  workqueue_queue_duration_seconds_bucket{namespace="ops", job="slow-bland-operator-metrics", instance="10.0.3.1:8443", name="persona", controller="persona", le="10"} 0+60x20 1250+50x19
  workqueue_queue_duration_seconds_bucket{namespace="ops", job="slow-bland-operator-metrics", instance="10.0.3.1:8443", name="persona", controller="persona", le="100"} 0+60x40
  workqueue_queue_duration_seconds_bucket{namespace="ops", job="slow-bland-operator-metrics", instance="10.0.3.1:8443", name="persona", controller="persona", le="+Inf"} 0+60x40

eval instant at 5m {{ .BlandOperatorWorkqueueSaturated }}

eval instant at 15m {{ .BlandOperatorWorkqueueSaturated }}
  {namespace="ops", job="deep-bland-operator-metrics", name="persona", signal="depth"} 150

# The 99th percentile falls among the ten slow items of 60: 10 + 90 * 9.4/10.
eval instant at 30m {{ .BlandOperatorWorkqueueSaturated }}
  {namespace="ops", job="deep-bland-operator-metrics", name="persona", signal="depth"} 150
  {namespace="ops", job="solo-bland-operator-metrics", name="persona", signal="depth"} 120
  {namespace="ops", job="slow-bland-operator-metrics", name="persona", signal="wait_p99_seconds"} 94.6
`

func TestEachAlertFiresOnlyWhenItShould(t *testing.T) {
	_, exprs := rules(t)
	tmpl := template.Must(template.New("script").Option("missingkey=error").Parse(script))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, exprs); err != nil {
		t.Fatalf("an alert the script tests is missing: %v", err)
	}
	if len(exprs) != 9 {
		t.Errorf("%d alerts, the script tests 9: add the new one to it", len(exprs))
	}
	promqltest.RunTest(t, b.String(), promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery))
}
