package plugin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/preview"
)

// TestPlanRefreshReadsEachPersonaOnceAndShowsDrift plans with --refresh
// against the simulator: the key comes from the binding's Secret (or
// --api-key-file for a user who may not read it), each persona is read
// once, nothing is written, and a number detached behind the operator's
// back shows as an attach the records alone would not predict.
func TestPlanRefreshReadsEachPersonaOnceAndShowsDrift(t *testing.T) {
	const ns, key = "team-r", "sk-plan-refresh"
	const r1, r2, r3 = "+14155553001", "+14155553002", "+14155553003"
	sim := blandsim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	sim.AddAccount("plan", key, r1, r2, r3)
	sim.AddPersona(key, "persona-"+ns, "Support")
	sim.AttachOutOfBand("persona-"+ns, r1) // r2 was detached outside the operator
	namespace(t, ns)
	must(t, k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bland"}, StringData: map[string]string{"apiKey": key}}))
	inSync(t, ns, "a", nil, r1, r2)
	path := manifest(t, binding(ns, "a", "", r1, r2, r3))
	refresh := []string{"--refresh", "--api-url", srv.URL, "--allow-insecure-api-url"}

	// From the records: only r3 is new.
	out, errOut, code := plan(t, adminKube, "-f", path, "-o", "json")
	if out == "" {
		t.Fatalf("no plan (exit %d): %s", code, errOut)
	}
	if got := attaches(t, out); code != 3 || !slices.Equal(got, []string{r3}) {
		t.Fatalf("from the records: exit %d, attach %v, want 3 and [%s]\n%s", code, got, r3, out)
	}

	// Read from Bland: r2 is missing too, and the persona's source says so.
	out, errOut, code = plan(t, adminKube, append(refresh, "-f", path, "-o", "json")...)
	if out == "" {
		t.Fatalf("no plan with --refresh (exit %d): %s", code, errOut)
	}
	if got := attaches(t, out); code != 3 || !slices.Equal(got, []string{r2, r3}) || !strings.Contains(out, `"source": "bland"`) {
		t.Fatalf("with --refresh: exit %d, attach %v, want 3 and [%s %s] from bland\nstdout:\n%s\nstderr:\n%s", code, got, r2, r3, out, errOut)
	}
	calls := sim.History()
	if len(calls) != 1 || calls[0].Endpoint != blandsim.EndpointGet {
		t.Fatalf("Bland saw %+v, want one read", calls)
	}

	// A user who may not read the Secret is told how to go on, and can.
	grantPlanReader(t)
	_, errOut, code = plan(t, readKube, append(refresh, "-f", path)...)
	if code != 1 || !strings.Contains(errOut, "--api-key-file") || strings.Contains(errOut, key) {
		t.Fatalf("without the Secret: exit %d, want 1 naming --api-key-file (and never the key)\n%s", code, errOut)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	must(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	out, _, code = plan(t, readKube, append(refresh, "--api-key-file", keyFile, "-f", path)...)
	if code != 3 || !strings.Contains(out, "+ attach "+r2) {
		t.Fatalf("with --api-key-file: exit %d\n%s", code, out)
	}

	// A persona Bland does not know: its binding is planned as the operator
	// would meet it, Stalled PersonaNotFound (exit 4), and the rest still.
	wrong := manifest(t, binding(ns, "a", "", r1, r2, r3), strings.Replace(binding(ns, "typo", "", "+14155553009"), "persona-"+ns, "persona-nobody", 1))
	out, errOut, code = plan(t, adminKube, append(refresh, "-f", wrong)...)
	if code != 4 || !strings.Contains(out, "team-r/typo (new, generation 1)") || !strings.Contains(out, "= Ready False PersonaNotFound") || !strings.Contains(out, "+ attach "+r2) {
		t.Fatalf("a persona Bland does not know: exit %d, want 4 with PersonaNotFound and the other persona planned\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, c := range sim.History() {
		if c.IsWrite() {
			t.Fatalf("the plan wrote to Bland: %+v", c)
		}
	}
}

// attaches are the numbers a JSON plan attaches, over every binding.
func attaches(t *testing.T, out string) []string {
	t.Helper()
	var rep preview.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []string
	for _, p := range rep.Personas {
		for _, b := range p.Bindings {
			got = append(got, b.Attach...)
		}
	}
	slices.Sort(got)
	return got
}
