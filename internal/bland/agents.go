package bland

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// AgentInbound is an agent's numbers as Bland's v2 Agents API shows them.
type AgentInbound struct {
	AgentID string `json:"agent_id"`
	// PersonaID is the persona Bland routes the agent's numbers through:
	// empty until the agent's first attach, kept afterwards.
	PersonaID string        `json:"persona_id"`
	Numbers   []AgentNumber `json:"numbers"`
}

// AgentNumber is one number routed to an agent.
type AgentNumber struct {
	PhoneNumber string `json:"phone_number"`
	// Env is "staging", or empty for production.
	Env string `json:"agent_env_type"`
}

// NumbersIn are the agent's numbers that answer on env, as a persona's
// numbers: a number Bland does not mark staging answers on production.
func (in *AgentInbound) NumbersIn(env string) []InboundNumber {
	var out []InboundNumber
	for _, n := range in.Numbers {
		on := EnvProduction
		if n.Env == EnvStaging {
			on = EnvStaging
		}
		if on == env {
			out = append(out, InboundNumber{PhoneNumber: n.PhoneNumber})
		}
	}
	return out
}

// AgentAttachment is the answer to an attach to an agent.
type AgentAttachment struct {
	AgentID   string `json:"agent_id"`
	PersonaID string `json:"persona_id"`
	// CompiledFromVersion is the agent version the numbers now run, in the
	// form Bland sent it (a number or a string).
	CompiledFromVersion flexibleString `json:"compiled_from_version"`
	Attached            []string       `json:"attached"`
}

// The environments an agent's number answers on.
const (
	EnvProduction = "production"
	EnvStaging    = "staging"
)

// AgentNumbers reads the numbers routed to an agent. Bland answers an
// unknown agent as one never attached (no persona, no numbers), not 404.
func (c *Client) AgentNumbers(ctx context.Context, apiKey, agentID string) (*AgentInbound, error) {
	var in AgentInbound
	if err := c.do(ctx, apiKey, "get agent numbers", http.MethodGet, agentPath(agentID), nil, &in); err != nil {
		return nil, err
	}
	if in.Numbers == nil && in.AgentID == "" {
		return nil, &Error{Kind: KindTransient, Op: "get agent numbers", Message: "response has no agent id"}
	}
	return &in, nil
}

// AttachToAgent routes numbers to an agent, all or nothing, in env
// (always sent, so that a number on staging never stays there by default).
// It replaces whatever persona or pathway the numbers had.
func (c *Client) AttachToAgent(ctx context.Context, apiKey, agentID, env string, numbers []string) (*AgentAttachment, error) {
	var a AgentAttachment
	body := map[string]any{"inbound_numbers": numbers, "environment": env}
	if err := c.do(ctx, apiKey, "attach numbers to agent", http.MethodPost, agentPath(agentID)+"/attach", body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DetachFromAgent takes numbers off an agent; numbers not on it are skipped.
// It returns how many Bland detached.
func (c *Client) DetachFromAgent(ctx context.Context, apiKey, agentID string, numbers []string) (int, error) {
	var out struct {
		DetachedCount int `json:"detached_count"`
	}
	body := map[string][]string{"inbound_numbers": numbers}
	if err := c.do(ctx, apiKey, "detach numbers from agent", http.MethodPost, agentPath(agentID)+"/detach", body, &out); err != nil {
		return 0, err
	}
	return out.DetachedCount, nil
}

func agentPath(id string) string { return "/v2/agents/" + url.PathEscape(id) + "/inbound" }

// flexibleString decodes a JSON string or number as its text.
type flexibleString string

func (f *flexibleString) UnmarshalJSON(raw []byte) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		*f = flexibleString(s)
		return nil
	}
	if string(raw) == "null" {
		*f = ""
		return nil
	}
	*f = flexibleString(strings.TrimSpace(string(raw)))
	return nil
}

// agentRefusals are the codes with which Bland refuses an attach for the
// agent itself, not its numbers: splitting the batch would not help.
var agentRefusals = map[string]bool{
	"NO_VERSIONS": true, "COMPILE_FAILED": true, "ENTERPRISE_REQUIRED": true,
	"STAGING_NUMBER_UNSUPPORTED": true, "AGENT_ENV_UNPINNED": true,
	"AGENT_VARIABLE_UNRESOLVED": true, "AGENT_SNAPSHOT_INVALID": true,
}
