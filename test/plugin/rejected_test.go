package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each refused input is reported, with its file and the field or the
// reason, and the others are still planned; the run exits 2. A typo in a
// field is refused as kubectl apply's strict field validation refuses it,
// never dropped; a file that is not YAML is refused, not taken for a
// cluster that cannot be reached (1). -o json prints a report all the same.
func TestPlanRefusesBadInputsAndPlansTheRest(t *testing.T) {
	namespace(t, "team-refused")
	const r1, r2 = "+14155551201", "+14155551202"
	inSync(t, "team-refused", "good", nil, r1)
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		must(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	write("good.yaml", binding("team-refused", "good", "", r1, r2))
	typo := write("typo.yaml", binding("team-refused", "typo", "  detachLimt: 1\n", r2))
	broken := write("broken.yaml", "apiVersion: personas.bland-operator.dev/v1alpha1\nkind: PersonaBinding\nmetadata: {name: [unclosed\n")
	invalid := write("invalid.yaml", binding("team-refused", "invalid", "", "not-a-number"))

	out, errOut, code := plan(t, adminKube, "-f", dir)
	if code != 2 {
		t.Errorf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"error: " + typo + ": PersonaBinding team-refused/typo: ", `detachLimt`,
		"error: " + invalid + ": PersonaBinding team-refused/invalid: would be rejected",
		"cannot be read", filepath.Base(broken),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "+ attach "+r2) || !strings.Contains(out, "team-refused/good (changed") {
		t.Errorf("the good input was not planned:\n%s", out)
	}

	js, _, code := plan(t, adminKube, "-f", dir, "-o", "json", "--exit-code=false")
	var rep struct {
		Errors []struct {
			Source, Name, Message string
		} `json:"errors"`
		Personas []struct {
			ID string `json:"id"`
		} `json:"personas"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || code != 2 {
		t.Fatalf("json (exit %d, --exit-code=false keeps 2): %v\n%s", code, err, js)
	}
	if len(rep.Errors) != 3 || len(rep.Personas) != 1 || rep.Personas[0].ID != "persona-team-refused" {
		t.Errorf("json report: %d errors (want 3), personas %+v\n%s", len(rep.Errors), rep.Personas, js)
	}

	// Every input refused: still a report, with its errors.
	js, _, code = plan(t, adminKube, "-f", typo, "-o", "json")
	if err := json.Unmarshal([]byte(js), &rep); err != nil || code != 2 || len(rep.Errors) != 1 || rep.Personas == nil {
		t.Errorf("json of a refused input (exit %d, %v): %s", code, err, js)
	}
}
