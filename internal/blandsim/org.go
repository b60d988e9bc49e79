package blandsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// This file holds what Bland does beyond the persona calls the operator
// makes: personas created and deleted, agents taking numbers over, keys
// whose role may only read, and the organization's rate limit. Agents are
// in agents.go.

// writeRoles are the roles Bland lets change personas and numbers.
var writeRoles = map[string]bool{"admin": true, "owner": true, "operator": true, "prompter": true}

// SetKeyRole gives an API key a role; a key without one is an admin. A key
// whose role is not admin, owner, operator or prompter may read but every
// write answers 403.
func (s *Server) SetKeyRole(apiKey, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles == nil {
		s.roles = map[string]string{}
	}
	s.roles[apiKey] = role
}

// mayWrite reports whether a key's role may change state.
func (s *Server) mayWrite(apiKey string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, set := s.roles[apiKey]
	return !set || writeRoles[role]
}

// SetOrgRateLimit limits the account to perSecond calls in any second
// (Bland's org_rate_limit, 5 by default there; 0 here turns it off). A call
// past the limit answers 429 with no Retry-After: Bland documents neither
// a body nor the header for it.
func (s *Server) SetOrgRateLimit(accountName string, perSecond int) {
	s.forAccount(accountName, func(a *account) { a.rateLimit = perSecond })
}

// overLimit counts a call against its account's limit and reports whether
// it goes past it. The window is the wall-clock second.
func (s *Server) overLimit(a *account, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.rateLimit <= 0 {
		return false
	}
	if second := now.Truncate(time.Second); !a.window.Equal(second) {
		a.window, a.inWindow = second, 0
	}
	a.inWindow++
	return a.inWindow > a.rateLimit
}

// create serves a persona creation: a new persona, with no numbers, in the
// caller's account. The caller holds mu.
func (s *Server) create(w http.ResponseWriter, acct *account, name string) int {
	if name == "" {
		return writeError(w, http.StatusBadRequest, "INVALID_BODY", "name is required", nil)
	}
	s.created++
	now := s.now()
	p := &persona{id: fmt.Sprintf("persona-%06d", s.created), name: name, account: acct, created: now, updated: now, numbers: map[string]*Settings{}}
	s.personas[p.id] = p
	return writeData(w, p.json())
}

// remove serves a persona deletion: refused with PERSONA_IN_USE while a
// number is attached, unless forced; forced, the numbers are left with no
// persona. The caller holds mu.
func (s *Server) remove(w http.ResponseWriter, p *persona, force bool) int {
	if len(p.order) > 0 && !force {
		return writeError(w, http.StatusBadRequest, "PERSONA_IN_USE", "Cannot delete persona that is currently in use by phone numbers",
			map[string]any{"phone_numbers_using": append([]string(nil), p.order...)})
	}
	delete(s.personas, p.id)
	return writeData(w, map[string]any{"id": p.id, "deleted": true})
}

// list serves one page of the account's personas, in ID order: limit 20
// unless asked, at most 100, pages counted from 1. The caller holds mu.
func (s *Server) list(w http.ResponseWriter, acct *account, page, limit string) int {
	n, err := strconv.Atoi(limit)
	if limit == "" {
		n, err = 20, nil
	}
	p, perr := strconv.Atoi(page)
	if page == "" {
		p, perr = 1, nil
	}
	if err != nil || perr != nil || n < 1 || p < 1 {
		return writeError(w, http.StatusBadRequest, "INVALID_QUERY", "page and limit must be positive integers", nil)
	}
	n = min(n, 100)
	var ids []string
	for id, per := range s.personas {
		if per.account == acct {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := []personaJSON{}
	for _, id := range ids[min(len(ids), (p-1)*n):min(len(ids), p*n)] {
		out = append(out, s.personas[id].json())
	}
	return writeData(w, out)
}
