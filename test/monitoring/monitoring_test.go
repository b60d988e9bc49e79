// Package monitoring checks the monitoring pieces against the operator: the
// Grafana dashboard and the alert rules reference only metrics the manager
// exports (its own and controller-runtime's), and every alert's runbook is a
// section of docs/troubleshooting.md or docs/operations.md.
package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	// The manager's controllers, as the manager links them: they register
	// controller-runtime's metrics, and the operator's own.
	_ "github.com/bland-operator/bland-operator/internal/controller"
	_ "github.com/bland-operator/bland-operator/internal/metrics"
)

var root = filepath.Join("..", "..")

// exported reports whether a manager built from these packages serves a
// metric of this name: its own, and controller-runtime's (reconciles, work
// queues, leader election, process and Go runtime). Registering another
// collector under the name fails exactly when one is registered, vectors
// that have no series yet included. Histogram series suffixes name their
// histogram; up is Prometheus' own, per target.
func exported(name string) bool {
	if name == "up" {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported(base) {
			return true
		}
	}
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := crmetrics.Registry.Register(probe); err != nil {
		return true
	}
	crmetrics.Registry.Unregister(probe)
	return false
}

var (
	// selector finds the metric name before a label matcher.
	selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)
	// operatorMetric finds the operator's metrics, which some alerts select
	// without matchers.
	operatorMetric = regexp.MustCompile(`bland_operator_[a-z_]+`)
)

// checkNames fails for every metric text selects that the manager does not
// export, and returns how many it selects.
func checkNames(t *testing.T, where, text string) int {
	t.Helper()
	names := operatorMetric.FindAllString(text, -1)
	for _, m := range selector.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	for _, n := range names {
		if !exported(n) {
			t.Errorf("%s references %s, which the manager does not export", where, n)
		}
	}
	return len(names)
}

func TestTheDashboardParsesAndUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "grafana", "bland-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	for _, v := range dash.Templating.List {
		checkNames(t, "variable "+v.Name, v.Definition)
	}
	var titles []string
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if checkNames(t, "panel "+p.Title, target.Expr) == 0 {
				t.Errorf("panel %q queries no metric: %s", p.Title, target.Expr)
			}
		}
	}
	all := strings.ToLower(strings.Join(titles, "|"))
	for _, want := range []string{"outcome", "latency", "retry-after", "reason", "numbers attached",
		"reconciles", "reconcile errors", "reconcile duration", "work queue depth", "work queue wait", "memory", "cpu", "leader"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel about %s (panels: %s)", want, all)
		}
	}
}

// slug is GitHub's anchor for a Markdown heading.
func slug(heading string) string {
	s := strings.ToLower(strings.TrimSpace(heading))
	s = regexp.MustCompile(`[^a-z0-9 -]`).ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

func TestEveryAlertHasARunbookAndUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert       string            `json:"alert"`
					Expr        string            `json:"expr"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	// Runbooks are sections of these pages, on the main branch (the chart
	// links its own version instead).
	anchors := map[string]bool{}
	for _, page := range []string{"troubleshooting.md", "operations.md"} {
		doc, err := os.ReadFile(filepath.Join(root, "docs", page))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(doc), "\n") {
			if heading := strings.TrimLeft(line, "#"); heading != line && strings.HasPrefix(heading, " ") {
				anchors[page+"#"+slug(heading)] = true
			}
		}
	}
	const docs = "https://github.com/bland-operator/bland-operator/blob/main/docs/"
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkNames(t, "alert "+r.Alert, r.Expr)
			url := r.Annotations["runbook_url"]
			if section, ok := strings.CutPrefix(url, docs); !ok || !anchors[section] {
				t.Errorf("alert %s: runbook_url %q is not a section of docs/troubleshooting.md or docs/operations.md", r.Alert, url)
			}
		}
	}
	for _, want := range []string{"BlandOperatorAbsent", "PersonaBindingReconcileErrors", "PersonaBindingDeletionHeld",
		"BlandOperatorNoLeader", "BlandOperatorWorkqueueSaturated"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
