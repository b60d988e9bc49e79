package blandsim

import (
	"fmt"
	"net/http"
	"slices"
)

// This file holds Bland's v2 Agents API as the operator uses it: numbers
// routed to an agent through a persona Bland creates on the agent's first
// attach and keeps, each number answering on production or staging.

// AgentOptions are what an agent can and cannot take.
type AgentOptions struct {
	// NoVersions: nothing was ever saved; an attach answers 400 NO_VERSIONS.
	NoVersions bool
	// CompileFails: an attach answers 422 COMPILE_FAILED.
	CompileFails bool
	// StagingRefusal, when set, is the code a staging attach answers with
	// (ENTERPRISE_REQUIRED is a 403, the others 409), before anything is
	// written.
	StagingRefusal string
}

type agent struct {
	id      string
	account *account
	opts    AgentOptions
	// personaID is the routing persona: "" until the first attach, kept
	// afterwards.
	personaID string
	// staging are the numbers answering on staging; the rest of the
	// routing persona's numbers answer on production.
	staging map[string]bool
	version int
	pathway int
}

// AgentPersonaID is the routing persona Bland keeps for an agent.
func AgentPersonaID(agentID string) string { return "agent-persona-" + agentID }

// AddAgent creates an agent in the account of apiKey, with one saved
// version unless o says otherwise.
func (s *Server) AddAgent(apiKey, id string, o AgentOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agents == nil {
		s.agents = map[string]*agent{}
	}
	s.agents[id] = &agent{id: id, account: s.accounts[apiKey], opts: o, staging: map[string]bool{}, version: 1}
}

// SetAgentOptions changes what an agent can take (a version saved, a
// compile fixed, staging published).
func (s *Server) SetAgentOptions(id string, o AgentOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.agents[id]; a != nil {
		a.opts = o
	}
}

// SaveAgentVersion saves a new version of the agent: numbers attached
// afterwards compile from it.
func (s *Server) SaveAgentVersion(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.agents[id]; a != nil {
		a.version++
	}
}

// AgentNumbers returns the numbers routed to the agent now, sorted, each
// with its environment ("production" or "staging").
func (s *Server) AgentNumbers(id string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	a := s.agents[id]
	if a == nil {
		return out
	}
	for _, n := range s.agentNumbers(a) {
		out[n] = a.envOf(n)
	}
	return out
}

// agentNumbers are the numbers on the agent's routing persona. The caller
// holds mu.
func (s *Server) agentNumbers(a *agent) []string {
	p := s.personas[a.personaID]
	if a.personaID == "" || p == nil {
		return nil
	}
	return slices.Clone(p.order)
}

func (a *agent) envOf(n string) string {
	if a.staging[n] {
		return "staging"
	}
	return "production"
}

// serveAgent serves the three v2 calls. The caller holds mu.
func (s *Server) serveAgent(w http.ResponseWriter, acct *account, ep Endpoint, agentID string, numbers []string, env *string) int {
	a := s.agents[agentID]
	if a != nil && a.account != acct {
		a = nil
	}
	switch ep {
	case EndpointAgentGet:
		return s.agentInbound(w, agentID, a)
	case EndpointAgentDetach:
		if len(numbers) == 0 {
			return writeError(w, http.StatusBadRequest, "INVALID_BODY", "inbound_numbers must be a non-empty array of strings", nil)
		}
		count := 0
		if a != nil {
			on := s.agentNumbers(a)
			for _, n := range numbers {
				if slices.Contains(on, n) {
					s.detach(s.personas[a.personaID], []string{n})
					delete(a.staging, n)
					count++
				}
			}
		}
		return writeData(w, map[string]any{"agent_id": agentID, "detached_count": count})
	}
	return s.attachToAgent(w, acct, a, agentID, numbers, env)
}

// agentInbound answers the agent's numbers; an unknown agent answers as one
// never attached, not 404.
func (s *Server) agentInbound(w http.ResponseWriter, agentID string, a *agent) int {
	type number struct {
		PhoneNumber string  `json:"phone_number"`
		Env         *string `json:"agent_env_type"`
	}
	out := map[string]any{"agent_id": agentID, "persona_id": nil, "numbers": []number{}, "staging_attach_supported": false}
	if a == nil {
		return writeData(w, out)
	}
	out["staging_attach_supported"] = a.opts.StagingRefusal == ""
	if a.personaID != "" {
		out["persona_id"] = a.personaID
	}
	nums := []number{}
	for _, n := range s.agentNumbers(a) {
		var e *string
		if a.staging[n] {
			st := "staging"
			e = &st
		}
		nums = append(nums, number{PhoneNumber: n, Env: e})
	}
	out["numbers"] = nums
	return writeData(w, out)
}

// attachToAgent serves the agent attach, all or nothing: every number
// moves to the agent's routing persona (created on the first attach) and
// loses the settings it had.
func (s *Server) attachToAgent(w http.ResponseWriter, acct *account, a *agent, agentID string, numbers []string, env *string) int {
	if len(numbers) == 0 {
		return writeError(w, http.StatusBadRequest, "INVALID_BODY", "inbound_numbers must be a non-empty array of strings", nil)
	}
	if env != nil && *env != "production" && *env != "staging" {
		return writeError(w, http.StatusBadRequest, "INVALID_BODY", "environment must be production or staging", nil)
	}
	if a == nil {
		return writeError(w, http.StatusNotFound, "NOT_FOUND", "Agent not found", nil)
	}
	if env != nil && *env == "staging" && a.opts.StagingRefusal != "" {
		status := http.StatusConflict
		if a.opts.StagingRefusal == "ENTERPRISE_REQUIRED" {
			status = http.StatusForbidden
		}
		return writeError(w, status, a.opts.StagingRefusal, "staging attach refused: "+a.opts.StagingRefusal, nil)
	}
	if a.opts.NoVersions {
		return writeError(w, http.StatusBadRequest, "NO_VERSIONS", "The agent has no saved versions", nil)
	}
	if a.opts.CompileFails {
		return writeError(w, http.StatusUnprocessableEntity, "COMPILE_FAILED", "The agent could not be compiled", nil)
	}
	for _, n := range numbers {
		if !e164.MatchString(n) || !acct.numbers[n] {
			return writeError(w, http.StatusBadRequest, "INVALID_INBOUND_NUMBERS", "Some phone numbers were not found or do not belong to you", nil)
		}
	}
	if a.personaID == "" {
		now := s.now()
		a.personaID = AgentPersonaID(agentID)
		s.personas[a.personaID] = &persona{id: a.personaID, name: "Agent " + agentID, account: acct, created: now, updated: now, numbers: map[string]*Settings{}}
	}
	p := s.personas[a.personaID]
	on := s.agentNumbers(a)
	for _, n := range numbers {
		delete(p.numbers, n) // "any existing assignment is replaced": settings go
		p.order = slices.DeleteFunc(p.order, func(x string) bool { return x == n })
		switch {
		case env != nil && *env == "staging":
			a.staging[n] = true
		case env != nil || !slices.Contains(on, n):
			delete(a.staging, n)
		}
	}
	s.attach(p, numbers)
	a.pathway++
	return writeData(w, map[string]any{"agent_id": agentID, "persona_id": a.personaID,
		"pathway_id": fmt.Sprintf("pathway-%s-%d", agentID, a.pathway), "compiled_from_version": a.version, "attached": numbers})
}
