package argocd

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// customizations are the resource customizations, one per kind, laid out
// as Argo CD keeps them upstream.
const customizations = "../../config/argocd/resource_customizations/personas.bland-operator.dev"

var kinds = []string{"PersonaBinding", "AgentBinding"}

// TestHealthCheckAgainstTestdata runs each kind's health.lua on every case
// of its health_test.yaml, as Argo CD's own test of a resource
// customization does.
func TestHealthCheckAgainstTestdata(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { testCustomization(t, filepath.Join(customizations, kind)) })
	}
}

func testCustomization(t *testing.T, customization string) {
	script, err := ReadScript(filepath.Join(customization, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Tests []struct {
			HealthStatus struct{ Status, Message string } `json:"healthStatus"`
			InputPath    string                           `json:"inputPath"`
		} `json:"tests"`
	}
	b, err := os.ReadFile(filepath.Join(customization, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases.Tests) < 8 {
		t.Fatalf("only %d cases in health_test.yaml", len(cases.Tests))
	}
	for _, tc := range cases.Tests {
		t.Run(tc.InputPath, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(customization, tc.InputPath))
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := yaml.Unmarshal(b, &obj); err != nil {
				t.Fatal(err)
			}
			got, err := Evaluate(script, obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.HealthStatus.Status || got.Message != tc.HealthStatus.Message {
				t.Errorf("got %s %q, want %s %q", got.Status, got.Message, tc.HealthStatus.Status, tc.HealthStatus.Message)
			}
		})
	}
}

// One script serves both kinds: config/argocd/health.lua, and each kind's
// copy laid out for upstreaming.
func TestTheCopiesOfTheScriptAreTheSame(t *testing.T) {
	a, errA := os.ReadFile("../../config/argocd/health.lua")
	for _, kind := range kinds {
		b, errB := os.ReadFile(filepath.Join(customizations, kind, "health.lua"))
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("config/argocd/health.lua and the %s copy differ (%v, %v)", kind, errA, errB)
		}
	}
}

func TestTheStringLibraryIsNotAvailable(t *testing.T) {
	if _, err := Evaluate(`return { status = string.upper("x") }`, map[string]any{}); err == nil {
		t.Fatal("a script could use the string library, which argocd-cm scripts do not get")
	}
}
