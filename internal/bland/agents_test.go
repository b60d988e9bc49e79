package bland_test

import (
	"context"
	"testing"

	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/blandsim"
)

func TestAgentCallsAgainstTheSimulator(t *testing.T) {
	sim, c := newSim(t)
	ctx := context.Background()
	sim.AddAgent(key, "agent-1", blandsim.AgentOptions{})

	in, err := c.AgentNumbers(ctx, key, "agent-1")
	if err != nil || in.PersonaID != "" || len(in.Numbers) != 0 {
		t.Fatalf("an agent never attached: %+v, %v; want no persona and no numbers", in, err)
	}
	// A number on a persona moves to the agent: the attach replaces it.
	if _, err := c.AttachNumbers(ctx, key, persona, []string{"+14155550001"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.AttachToAgent(ctx, key, "agent-1", bland.EnvStaging, []string{"+14155550001", "+14155550002"})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if got.PersonaID != blandsim.AgentPersonaID("agent-1") || got.CompiledFromVersion != "1" || len(got.Attached) != 2 {
		t.Errorf("attach answered %+v", got)
	}
	if on := sim.Attached(persona); len(on) != 0 {
		t.Errorf("the persona still has %v after the agent took its number", on)
	}
	in, err = c.AgentNumbers(ctx, key, "agent-1")
	if err != nil || in.PersonaID != got.PersonaID || len(in.Numbers) != 2 || in.Numbers[0].Env != bland.EnvStaging {
		t.Errorf("read after a staging attach: %+v, %v", in, err)
	}
	// Production is sent explicitly: a staging number moves to production.
	if _, err := c.AttachToAgent(ctx, key, "agent-1", bland.EnvProduction, []string{"+14155550001"}); err != nil {
		t.Fatal(err)
	}
	if env := sim.AgentNumbers("agent-1"); env["+14155550001"] != "production" || env["+14155550002"] != "staging" {
		t.Errorf("environments after a production attach of one number: %v", env)
	}
	n, err := c.DetachFromAgent(ctx, key, "agent-1", []string{"+14155550001", "+19995550000"})
	if err != nil || n != 1 {
		t.Errorf("detach: %d, %v; want 1 (a number not on the agent is skipped)", n, err)
	}
	in, _ = c.AgentNumbers(ctx, key, "agent-1")
	if in.PersonaID == "" {
		t.Error("the routing persona is kept after a detach")
	}
}

func TestAgentRefusalsAreClassified(t *testing.T) {
	sim, c := newSim(t)
	ctx := context.Background()
	sim.AddAgent(key, "new", blandsim.AgentOptions{NoVersions: true})
	sim.AddAgent(key, "broken", blandsim.AgentOptions{CompileFails: true})
	sim.AddAgent(key, "basic", blandsim.AgentOptions{StagingRefusal: "ENTERPRISE_REQUIRED"})
	sim.AddAgent(key, "ok", blandsim.AgentOptions{})
	cases := []struct {
		agent, env string
		numbers    []string
		kind       bland.Kind
		code       string
	}{
		{"missing", bland.EnvProduction, []string{"+14155550001"}, bland.KindNotFound, "NOT_FOUND"},
		{"new", bland.EnvProduction, []string{"+14155550001"}, bland.KindAgentRefused, "NO_VERSIONS"},
		{"broken", bland.EnvProduction, []string{"+14155550001"}, bland.KindAgentRefused, "COMPILE_FAILED"},
		{"basic", bland.EnvStaging, []string{"+14155550001"}, bland.KindAgentRefused, "ENTERPRISE_REQUIRED"},
		{"ok", bland.EnvProduction, []string{"+14155550001", "+19995550000"}, bland.KindInvalid, "INVALID_INBOUND_NUMBERS"},
	}
	for _, tc := range cases {
		_, err := c.AttachToAgent(ctx, key, tc.agent, tc.env, tc.numbers)
		be, ok := bland.AsError(err)
		if !ok || be.Kind != tc.kind || be.Code != tc.code {
			t.Errorf("attach to %s: %v; want kind %s code %s", tc.agent, err, tc.kind, tc.code)
		}
	}
	if env := sim.AgentNumbers("ok"); len(env) != 0 {
		t.Errorf("a refused attach is all or nothing, but the agent has %v", env)
	}
	if n, err := c.DetachFromAgent(ctx, key, "missing", []string{"+14155550001"}); err != nil || n != 0 {
		t.Errorf("detach from an unknown agent: %d, %v; want 0 and no error", n, err)
	}
}
