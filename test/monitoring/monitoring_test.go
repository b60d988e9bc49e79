// Package monitoring checks the monitoring pieces against the operator: the
// Grafana dashboard and the alert rules reference only metrics it exports,
// and every alert's runbook is a section of docs/troubleshooting.md.
package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/bland-operator/bland-operator/internal/metrics"
)

var root = filepath.Join("..", "..")

// exported returns the names of the operator's own metrics.
func exported() map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range []prometheus.Collector{metrics.APICalls, metrics.APICallDuration, metrics.RetryAfter,
		metrics.DriftRepairs, metrics.NumbersLeftAttached, metrics.Bindings} {
		c.Describe(ch)
	}
	close(ch)
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	out := map[string]bool{}
	for d := range ch {
		if m := name.FindStringSubmatch(d.String()); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

var operatorMetric = regexp.MustCompile(`bland_operator_[a-z_]+`)

// checkNames fails for every bland_operator_ name in text the operator does
// not export (histogram series suffixes allowed).
func checkNames(t *testing.T, where, text string, known map[string]bool) int {
	t.Helper()
	found := 0
	for _, n := range operatorMetric.FindAllString(text, -1) {
		found++
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !known[n] && !known[base] {
			t.Errorf("%s references %s, which the operator does not export", where, n)
		}
	}
	return found
}

func TestTheDashboardParsesAndUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "grafana", "bland-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	known := exported()
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if checkNames(t, "panel "+p.Title, target.Expr, known) == 0 {
				t.Errorf("panel %q queries none of the operator's metrics: %s", p.Title, target.Expr)
			}
		}
	}
	all := strings.ToLower(strings.Join(titles, "|"))
	for _, want := range []string{"outcome", "latency", "retry-after", "reason", "numbers attached"} {
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
	doc, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			anchors[slug(strings.TrimPrefix(line, "## "))] = true
		}
	}
	known := exported()
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkNames(t, "alert "+r.Alert, r.Expr, known)
			url := r.Annotations["runbook_url"]
			_, anchor, ok := strings.Cut(url, "docs/troubleshooting.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q is not a section of docs/troubleshooting.md", r.Alert, url)
			}
		}
	}
	for _, want := range []string{"BlandOperatorAbsent", "PersonaBindingReconcileErrors", "PersonaBindingDeletionHeld"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
