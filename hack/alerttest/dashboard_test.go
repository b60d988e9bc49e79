package alerttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// filters are the dashboard's variables every series a panel selects must be
// filtered by: one dashboard serves every install the Prometheus scrapes.
var filters = []string{"cluster", "namespace", "job"}

// TestTheDashboardQueriesParseAndFilter parses every panel's query in the
// Grafana dashboard with Prometheus' own parser, and checks that each series
// selector in it matches cluster, namespace and job against the dashboard's
// variables. (test/monitoring checks that the metrics it names exist.)
func TestTheDashboardQueriesParseAndFilter(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "grafana", "bland-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				AllValue string `json:"allValue"`
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

	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
		// All must match a series without the label: Prometheus servers
		// that scrape one cluster add no cluster label.
		if v.Name == "cluster" && v.AllValue != ".*" {
			t.Errorf("the cluster variable's All is %q, want .* so that series without a cluster label match", v.AllValue)
		}
	}
	if vars["datasource"] != "datasource" {
		t.Error("the dashboard has no datasource variable")
	}
	for _, name := range filters {
		if vars[name] != "query" {
			t.Errorf("the dashboard has no %s variable", name)
		}
	}

	p := parser.NewParser(parser.Options{})
	variable := regexp.MustCompile(`\$[a-z_]+`)
	queries := 0
	for _, panel := range dash.Panels {
		if panel.Type == "row" {
			continue
		}
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, target := range panel.Targets {
			queries++
			// Each variable stands for a regular expression; a placeholder
			// keeps the query parseable and the matcher recognisable.
			expr := variable.ReplaceAllStringFunc(target.Expr, func(v string) string {
				if vars[v[1:]] == "" {
					t.Errorf("panel %q uses %s, which the dashboard does not define", panel.Title, v)
				}
				return "VAR_" + v[1:]
			})
			node, err := p.ParseExpr(expr)
			if err != nil {
				t.Errorf("panel %q: %s does not parse: %v", panel.Title, target.Expr, err)
				continue
			}
			selectors := 0
			parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				selectors++
				for _, name := range filters {
					if !hasMatcher(vs.LabelMatchers, name, "VAR_"+name) {
						t.Errorf("panel %q: %s selects %s without %s=~\"$%s\"", panel.Title, target.Expr, vs.Name, name, name)
					}
				}
				return nil
			})
			if selectors == 0 {
				t.Errorf("panel %q: %s selects no series", panel.Title, target.Expr)
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
}

func hasMatcher(ms []*labels.Matcher, name, value string) bool {
	for _, m := range ms {
		if m.Name == name && m.Type == labels.MatchRegexp && m.Value == value {
			return true
		}
	}
	return false
}

// TestTheRunbooksNameTheMainBranch checks the form of every runbook_url: a
// page of docs/ on the main branch, which the Helm chart replaces with its
// appVersion. (test/monitoring checks that the section exists.)
func TestTheRunbooksNameTheMainBranch(t *testing.T) {
	const prefix = "https://github.com/bland-operator/bland-operator/blob/main/docs/"
	file, _ := rules(t)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if url := r.Annotations["runbook_url"]; !strings.HasPrefix(url, prefix) || !strings.Contains(url, ".md#") {
				t.Errorf("alert %s: runbook_url %q is not a section of a page under %s", r.Alert, url, prefix)
			}
		}
	}
}
