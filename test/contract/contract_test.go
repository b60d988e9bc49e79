// Package contract checks the Bland API the operator is built against: the
// same steps run against the simulator in make test, and against the real
// Bland with make test-live. A live run writes what Bland answered to the
// golden file; the simulator run must answer the same, so "the simulator is
// faithful" is a checked claim, as fresh as the last live run.
package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// goldenPath holds what the last live run saw.
const goldenPath = "testdata/contract.golden.json"

// settingsStep needs a pathway of the account; a live run without
// BLAND_LIVE_PATHWAY_ID records it as skipped, and the comparison skips it.
const (
	settingsStep = "settings with a numeric pathway_version"
	skipped      = "SKIPPED"
)

// maxLiveCalls bounds a live run: a few dozen calls at one a second.
const maxLiveCalls = 25

var updateGolden = flag.Bool("update", false, "against the simulator: rewrite the golden file from the simulator's answers (only until a live run has recorded one)")

// Step is what one call of the contract answered.
type Step struct {
	Name string `json:"name"`
	// Status is the HTTP status, Code Bland's error code ("" on success).
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// Facts are the things the operator relies on, each true or false.
	Facts map[string]bool `json:"facts,omitempty"`
}

// Record is the golden file: where it came from and every step.
type Record struct {
	Source     string `json:"source"`
	Recorded   string `json:"recorded"`
	APIVersion string `json:"apiVersion,omitempty"`
	Steps      []Step `json:"steps"`
}

// target is the Bland the contract runs against.
type target struct {
	live    bool
	baseURL string
	key     string
	numbers []string // owned by the account, set aside for testing
	foreign string   // a number the account does not own
	pathway string   // a pathway the account has, for the settings step
	agent   string   // an agent of the account, for the v2 steps (never created or deleted here)
	calls   *atomic.Int64
	client  *bland.Client
}

func TestContract(t *testing.T) {
	tg := newTarget(t)
	ctx := context.Background()
	rec := Record{Source: "simulator", Recorded: time.Now().UTC().Format(time.RFC3339)}
	if tg.live {
		rec.Source = "live"
	}
	steps := run(t, ctx, tg)
	rec.Steps = steps
	if tg.live && tg.calls.Load() > maxLiveCalls {
		t.Errorf("the live run made %d calls, more than %d", tg.calls.Load(), maxLiveCalls)
	}
	for _, s := range steps {
		t.Logf("REPORT contract %s: HTTP %d %s %v", s.Name, s.Status, s.Code, s.Facts)
	}

	if tg.live || *updateGolden {
		writeGolden(t, rec)
		return
	}
	golden := readGolden(t)
	compare(t, golden, steps)
}

// newTarget is the real Bland when BLAND_LIVE_API_KEY and BLAND_LIVE_NUMBERS
// are set, else a fresh simulator.
func newTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{calls: &atomic.Int64{}}
	qps, burst := -1.0, 1
	if key, nums := os.Getenv("BLAND_LIVE_API_KEY"), os.Getenv("BLAND_LIVE_NUMBERS"); key != "" && nums != "" {
		tg.live, tg.key, qps = true, key, 1
		tg.numbers = strings.Split(nums, ",")
		tg.baseURL = envOr("BLAND_LIVE_BASE_URL", bland.DefaultBaseURL)
		tg.foreign = envOr("BLAND_LIVE_FOREIGN_NUMBER", "+15005550006")
		tg.pathway = os.Getenv("BLAND_LIVE_PATHWAY_ID")
		tg.agent = os.Getenv("BLAND_LIVE_AGENT_ID")
		if len(tg.numbers) < 1 {
			t.Fatal("BLAND_LIVE_NUMBERS names no number")
		}
	} else {
		sim := blandsim.New()
		tg.key, tg.numbers, tg.foreign, tg.pathway = "sk-contract", []string{"+14155550901"}, "+15005550006", "pw-contract"
		sim.AddAccount("contract", tg.key, tg.numbers...)
		sim.SetV1Refusals("contract", true) // the words Bland's v1 API answers with
		tg.agent = "agent-contract"
		sim.AddAgent(tg.key, tg.agent, blandsim.AgentOptions{})
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		tg.baseURL = srv.URL
	}
	c, err := bland.New(bland.Options{BaseURL: tg.baseURL, AllowInsecure: !tg.live, QPS: qps, Burst: burst,
		Observe: func(string, error, time.Duration) { tg.calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	tg.client = c
	return tg
}

// run makes the contract's calls, in order, on a persona of its own, and
// deletes that persona at the end (without force: Bland refuses while a
// number is still attached, so nothing is ever left unassigned by it).
func run(t *testing.T, ctx context.Context, tg *target) []Step {
	t.Helper()
	var steps []Step
	add := recorder(t, &steps)
	n := tg.numbers[0]

	// The test numbers must not be in use: attaching one would move it.
	all, err := tg.client.ListPersonas(ctx, tg.key)
	add("list personas", err, nil)
	for _, p := range all {
		for _, m := range p.Numbers() {
			if slices.Contains(tg.numbers, m) {
				t.Fatalf("test number %s is attached to persona %s; the contract check only uses numbers set aside for it", m, p.ID)
			}
		}
	}

	name := "bland-operator-contract-" + randomSuffix()
	p, err := tg.client.CreatePersona(ctx, tg.key, name)
	add("create persona", err, nil)
	if err != nil {
		return steps
	}
	id := p.ID
	t.Cleanup(func() {
		// Whatever failed above, leave nothing behind.
		_, _ = tg.client.DetachNumbers(context.Background(), tg.key, id, tg.numbers)
		if err := tg.client.DeletePersona(context.Background(), tg.key, id, false); err != nil {
			t.Errorf("could not delete the contract's persona %s: %v", id, err)
		}
	})

	got, err := tg.client.GetPersona(ctx, tg.key, id)
	add("get persona", err, map[string]bool{"new persona has no numbers": err == nil && len(got.InboundNumbers) == 0})

	got, err = tg.client.AttachNumbers(ctx, tg.key, id, []string{n})
	add("attach", err, map[string]bool{"answer lists the number": err == nil && slices.Contains(got.Numbers(), n)})
	got, err = tg.client.AttachNumbers(ctx, tg.key, id, []string{n})
	add("attach again", err, map[string]bool{"idempotent": err == nil && slices.Equal(got.Numbers(), []string{n})})

	if tg.pathway == "" {
		steps = append(steps, Step{Name: settingsStep, Code: skipped}) // no pathway named for a live run
	} else {
		version := int64(1)
		set, err := tg.client.UpdateNumberSettings(ctx, tg.key, id, n, &bland.Settings{PathwayID: tg.pathway, PathwayVersion: &version})
		add(settingsStep, err, map[string]bool{"answer carries the settings": err == nil && set.PersonaSettings != nil && set.PersonaSettings.PathwayID == tg.pathway})
	}
	_, err = tg.client.DetachNumbers(ctx, tg.key, id, []string{n})
	add("detach", err, nil)
	got, err = tg.client.AttachNumbers(ctx, tg.key, id, []string{n})
	cleared := err == nil && len(got.InboundNumbers) == 1 && got.InboundNumbers[0].PersonaSettings.IsEmpty()
	add("attach after detach", err, map[string]bool{"detach cleared the settings": cleared})

	_, err = tg.client.AttachNumbers(ctx, tg.key, id, []string{tg.foreign})
	add("attach a number not in the account", err, nil)
	_, err = tg.client.GetPersona(ctx, tg.key, "00000000-0000-4000-8000-"+randomSuffix()+"0000")
	add("get a persona that does not exist", err, nil)

	err = tg.client.DeletePersona(ctx, tg.key, id, false)
	be, _ := bland.AsError(err)
	var using []string
	if be != nil {
		using = stringsIn(be.Details["phone_numbers_using"])
	}
	add("delete while a number is attached", err, map[string]bool{"details name the number": slices.Contains(using, n)})

	status, err := getWithAuthorization(ctx, tg, id, "Bearer "+tg.key)
	if err != nil {
		t.Fatalf("get with a Bearer key: %v", err)
	}
	steps = append(steps, Step{Name: "get with \"Bearer <key>\"", Status: status})

	_, err = tg.client.DetachNumbers(ctx, tg.key, id, []string{n})
	add("detach", err, nil)
	again, err := tg.client.DetachNumbers(ctx, tg.key, id, []string{n})
	add("detach again", err, map[string]bool{"no-op": err == nil && len(again.InboundNumbers) == 0})
	return append(steps, agentSteps(t, ctx, tg, n)...)
}

// recorder returns add, which appends to steps what a call answered: its
// HTTP status and Bland's code, and the facts checked. A failure that is
// not Bland's answer ends the test.
func recorder(t *testing.T, steps *[]Step) func(name string, err error, facts map[string]bool) {
	return func(name string, err error, facts map[string]bool) {
		s := Step{Name: name, Status: http.StatusOK, Facts: facts}
		if be, ok := bland.AsError(err); ok {
			s.Status, s.Code = be.StatusCode, be.Code
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		*steps = append(*steps, s)
	}
}

// agentSteps are the v2 Agents API calls an AgentBinding makes, on the agent
// the check is given (BLAND_LIVE_AGENT_ID live): the number goes to the
// agent on production and comes off again. Without an agent each is
// recorded as skipped.
func agentSteps(t *testing.T, ctx context.Context, tg *target, n string) []Step {
	names := []string{"agent: attach on production", "agent: read", "agent: attach a number not in the account",
		"agent: detach", "agent: detach again", "agent: attach to an agent that does not exist"}
	if tg.agent == "" {
		var out []Step
		for _, name := range names {
			out = append(out, Step{Name: name, Code: skipped})
		}
		return out
	}
	t.Cleanup(func() { _, _ = tg.client.DetachFromAgent(context.Background(), tg.key, tg.agent, []string{n}) })
	var steps []Step
	add := recorder(t, &steps)
	at, err := tg.client.AttachToAgent(ctx, tg.key, tg.agent, bland.EnvProduction, []string{n})
	add(names[0], err, map[string]bool{"answer names the routing persona": err == nil && at.PersonaID != "",
		"answer names the compiled version": err == nil && at.CompiledFromVersion != ""})
	in, err := tg.client.AgentNumbers(ctx, tg.key, tg.agent)
	onProduction := err == nil && slices.ContainsFunc(in.Numbers, func(m bland.AgentNumber) bool { return m.PhoneNumber == n && m.Env == "" })
	add(names[1], err, map[string]bool{"lists the number on production": onProduction, "same routing persona": err == nil && at != nil && in.PersonaID == at.PersonaID})
	_, err = tg.client.AttachToAgent(ctx, tg.key, tg.agent, bland.EnvProduction, []string{tg.foreign})
	add(names[2], err, nil)
	count, err := tg.client.DetachFromAgent(ctx, tg.key, tg.agent, []string{n})
	add(names[3], err, map[string]bool{"counts the number": count == 1})
	count, err = tg.client.DetachFromAgent(ctx, tg.key, tg.agent, []string{n})
	add(names[4], err, map[string]bool{"no-op": err == nil && count == 0})
	_, err = tg.client.AttachToAgent(ctx, tg.key, "bland-operator-contract-"+randomSuffix(), bland.EnvProduction, []string{n})
	add(names[5], err, nil)
	return steps
}

// getWithAuthorization reads the persona with a raw authorization header,
// to record whether Bland takes the key as "Bearer <key>" too.
func getWithAuthorization(ctx context.Context, tg *target, id, authorization string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.baseURL+"/v1/personas/"+id, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("authorization", authorization)
	tg.calls.Add(1)
	if tg.live {
		time.Sleep(time.Second) // the raw call bypasses the client's one-a-second pace
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// compare checks the simulator's answers against the live run's, step by
// step: the same status, the same code, the same facts.
func compare(t *testing.T, golden Record, steps []Step) {
	t.Helper()
	if len(golden.Steps) != len(steps) {
		t.Fatalf("the golden file has %d steps, this run %d: rerun make test-live (or, with no live run yet, go test ./test/contract -update)", len(golden.Steps), len(steps))
	}
	for i, want := range golden.Steps {
		got := steps[i]
		if want.Code == skipped {
			continue
		}
		if got.Name != want.Name || got.Status != want.Status || got.Code != want.Code || fmt.Sprint(got.Facts) != fmt.Sprint(want.Facts) {
			t.Errorf("step %d: %s answered\n  %+v\nbut %s Bland answered (%s)\n  %+v", i+1, got.Name, got, golden.Source, golden.Recorded, want)
		}
	}
}

func readGolden(t *testing.T) Record {
	t.Helper()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("reading the golden file: %v", err)
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("the golden file: %v", err)
	}
	return rec
}

func writeGolden(t *testing.T, rec Record) {
	t.Helper()
	raw, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath, append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (source %s)", goldenPath, rec.Source)
}

func stringsIn(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
