package blandsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// request is what the simulator keeps of an HTTP request: enough to serve it
// after the handler has returned, when a call lands late.
type request struct {
	ep        Endpoint
	personaID string
	number    string
	key       string
	force     bool   // DELETE ?force=true
	page      string // list ?page=
	limit     string // list ?limit=
	received  time.Time
	raw       []byte
	readErr   error
}

// ServeHTTP answers the Bland persona API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/history" {
		if !s.waitLatency(r) {
			return
		}
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(s.History())
		return
	}
	q := r.URL.Query()
	rq := &request{key: r.Header.Get("authorization"), force: q.Get("force") == "true", page: q.Get("page"), limit: q.Get("limit")}
	rq.ep, rq.personaID, rq.number = route(r)
	// The body is read before any waiting: a call that lands late is served
	// after the connection is gone, when the body can no longer be read.
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
		rq.raw, rq.readErr = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	}
	stayed := s.waitLatency(r)
	rq.received = s.now()
	if !stayed {
		// Abandoned before Bland looked at it: dropped, unless it is a write
		// and late landing is on.
		s.landLater(rq.ep, func() { s.handle(discard{}, nil, rq) })
		return
	}
	s.handle(w, r.Context().Done(), rq)
}

// waitLatency waits out Latency and reports whether the client was still
// there at the end.
func (s *Server) waitLatency(r *http.Request) bool {
	if s.Latency <= 0 {
		return true
	}
	select {
	case <-time.After(s.Latency):
		return true
	case <-r.Context().Done():
		return false
	}
}

// handle authenticates, waits, injects faults and serves one call. A nil done
// means the call is landing late: nobody waits for its answer, so it meets no
// hold, latency or fault (the queued faults are kept for answers a client
// sees) and is recorded as Late.
func (s *Server) handle(w http.ResponseWriter, done <-chan struct{}, rq *request) {
	late := done == nil
	call := Call{Time: rq.received, Endpoint: rq.ep, PersonaID: rq.personaID, Late: late}

	acct := s.account(rq.key)
	if acct == nil {
		call.Status = http.StatusUnauthorized
		s.record(call)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid API key", nil)
		return
	}
	call.Account = acct.name

	if (Call{Endpoint: rq.ep}).IsWrite() && !s.mayWrite(rq.key) {
		call.Status = http.StatusForbidden
		s.record(call)
		writeError(w, http.StatusForbidden, "FORBIDDEN", "this API key's role may not make changes", nil)
		return
	}
	if !late && s.overLimit(acct, rq.received) {
		call.Status = http.StatusTooManyRequests
		s.record(call)
		writeError(w, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "organization rate limit exceeded", nil)
		return
	}

	var body struct {
		InboundNumbers  []string  `json:"inbound_numbers"`
		PersonaSettings *Settings `json:"persona_settings"`
		Name            string    `json:"name"`
		Environment     *string   `json:"environment"`
	}
	if rq.raw != nil || rq.readErr != nil {
		if err := json.NewDecoder(bytes.NewReader(rq.raw)).Decode(&body); err != nil || rq.readErr != nil {
			call.Status = http.StatusBadRequest
			s.record(call)
			writeError(w, http.StatusBadRequest, "INVALID_BODY", "request body is not valid JSON", nil)
			return
		}
	}
	call.Numbers = body.InboundNumbers
	if rq.number != "" {
		call.Numbers = []string{rq.number}
	}
	serve := func(w http.ResponseWriter) int {
		switch rq.ep {
		case EndpointCreate:
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.create(w, acct, body.Name)
		case EndpointAgentAttach, EndpointAgentDetach, EndpointAgentGet:
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.serveAgent(w, acct, rq.ep, rq.personaID, body.InboundNumbers, body.Environment)
		}
		return s.serve(w, acct, rq.ep, rq.personaID, rq.number, body.InboundNumbers, body.PersonaSettings, rq.force, rq.page, rq.limit)
	}
	// land serves c with no one listening; c is a copy, so the handler may
	// return while the landing waits.
	land := func(c Call) func() {
		return func() {
			c.Late = true
			c.Status = serve(discard{})
			s.record(c)
		}
	}

	if !late {
		s.wait(rq.personaID, rq.ep, done)
		if gaveUp(done) && s.landLater(rq.ep, land(call)) {
			return
		}
		if f, ok := s.nextFault(acct.name, rq.ep); ok {
			status := s.applyFault(w, done, f)
			// A hang stands for a slow upstream, which still applies the call
			// after the client has gone; the landing carries no fault.
			if f.Kind == FaultHang && gaveUp(done) && s.landLater(rq.ep, land(call)) {
				return
			}
			call.Fault = string(f.Kind)
			call.RetryAfter = f.RetryAfter
			call.Status = status
			s.record(call)
			return
		}
	}
	call.Status = serve(w)
	s.record(call)
}

// route splits a request into its endpoint and path parameters; for the
// agent calls, personaID is the agent's ID.
func route(r *http.Request) (ep Endpoint, personaID, number string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 4 && parts[0] == "v2" && parts[1] == "agents" && parts[3] == "inbound" {
		switch {
		case len(parts) == 4 && r.Method == http.MethodGet:
			return EndpointAgentGet, parts[2], ""
		case len(parts) == 5 && parts[4] == "attach" && r.Method == http.MethodPost:
			return EndpointAgentAttach, parts[2], ""
		case len(parts) == 5 && parts[4] == "detach" && r.Method == http.MethodPost:
			return EndpointAgentDetach, parts[2], ""
		}
		return EndpointUnknownRoute, "", ""
	}
	if len(parts) < 2 || parts[0] != "v1" || parts[1] != "personas" {
		return EndpointUnknownRoute, "", ""
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		return EndpointList, "", ""
	case len(parts) == 2 && r.Method == http.MethodPost:
		return EndpointCreate, "", ""
	case len(parts) == 3 && r.Method == http.MethodGet:
		return EndpointGet, parts[2], ""
	case len(parts) == 3 && r.Method == http.MethodDelete:
		return EndpointDelete, parts[2], ""
	case len(parts) == 5 && parts[3] == "inbound" && parts[4] == "attach" && r.Method == http.MethodPost:
		return EndpointAttach, parts[2], ""
	case len(parts) == 5 && parts[3] == "inbound" && parts[4] == "detach" && r.Method == http.MethodPost:
		return EndpointDetach, parts[2], ""
	case len(parts) == 6 && parts[3] == "inbound" && parts[5] == "settings" && r.Method == http.MethodPatch:
		return EndpointSettings, parts[2], parts[4]
	}
	return EndpointUnknownRoute, "", ""
}

// serve carries out a valid call and returns the HTTP status it answered.
func (s *Server) serve(w http.ResponseWriter, acct *account, ep Endpoint, personaID, number string, numbers []string, settings *Settings, force bool, page, limit string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep == EndpointUnknownRoute {
		return writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint", nil)
	}
	if ep == EndpointList {
		return s.list(w, acct, page, limit)
	}
	p := s.personas[personaID]
	if p == nil || p.account != acct {
		return writeError(w, s.NotFoundStatus, "PERSONA_NOT_FOUND", "Persona not found or access denied", nil)
	}
	switch ep {
	case EndpointGet:
		return writeData(w, p.json())
	case EndpointDelete:
		return s.remove(w, p, force)
	case EndpointAttach, EndpointDetach:
		for _, n := range numbers {
			if !e164.MatchString(n) {
				return writeError(w, http.StatusBadRequest, "INVALID_PHONE_NUMBER", fmt.Sprintf("%s is not an E.164 number", n), nil)
			}
		}
		if ep == EndpointDetach {
			s.detach(p, numbers)
			return writeData(w, p.json())
		}
		var missing []string
		for _, n := range numbers {
			if !acct.numbers[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 && acct.v1 {
			return writeError(w, http.StatusBadRequest, "INVALID_PHONE_NUMBER", fmt.Sprintf("Phone number %s does not belong to your account", missing[0]), nil)
		}
		if len(missing) > 0 && acct.terse {
			return writeError(w, http.StatusBadRequest, "NUMBER_NOT_FOUND", "one or more numbers are not in this account", nil)
		}
		if len(missing) > 0 {
			return writeError(w, http.StatusBadRequest, "NUMBER_NOT_FOUND", "numbers not in this account: "+strings.Join(missing, ", "), nil)
		}
		s.attach(p, numbers)
		return writeData(w, p.json())
	default: // settings
		if _, ok := p.numbers[number]; !ok {
			return writeError(w, http.StatusBadRequest, "NUMBER_NOT_ATTACHED", number+" is not attached to this persona", nil)
		}
		if settings != nil && *settings == (Settings{}) {
			settings = nil
		}
		p.numbers[number] = settings
		p.updated = s.now()
		return writeData(w, numberJSON{PhoneNumber: number, PersonaID: p.id, PersonaSettings: settings})
	}
}

// applyFault writes the injected failure and returns its status (0 if none).
func (s *Server) applyFault(w http.ResponseWriter, done <-chan struct{}, f Fault) int {
	switch f.Kind {
	case FaultRateLimit:
		w.Header().Set("Retry-After", f.RetryAfter)
		return writeError(w, http.StatusTooManyRequests, "RATE_LIMITED", "too many requests", nil)
	case FaultHang:
		select {
		case <-time.After(f.Duration):
		case <-done:
		}
		return writeError(w, http.StatusGatewayTimeout, "TIMEOUT", "upstream timed out", nil)
	case FaultReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return 0
			}
		}
		return writeError(w, http.StatusBadGateway, "RESET", "connection reset", nil)
	case FaultEnvelope:
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": nil, "errors": []map[string]string{{"error": f.Code, "message": "injected error"}}})
		return http.StatusOK
	case FaultBody:
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(f.Body)
		return status
	default: // FaultStatus
		w.Header().Set("content-type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", f.Status, http.StatusText(f.Status))
		return f.Status
	}
}

type personaJSON struct {
	ID             string       `json:"id"`
	Name           string       `json:"name"`
	UserID         string       `json:"user_id"`
	InboundNumbers []numberJSON `json:"inbound_numbers"`
	CreatedAt      string       `json:"created_at"`
	UpdatedAt      string       `json:"updated_at"`
}

type numberJSON struct {
	PhoneNumber     string    `json:"phone_number"`
	Label           *string   `json:"label"`
	PersonaID       string    `json:"persona_id"`
	PersonaSettings *Settings `json:"persona_settings"`
}

func (p *persona) json() personaJSON {
	out := personaJSON{ID: p.id, Name: p.name, UserID: "user-" + p.account.name,
		InboundNumbers: []numberJSON{},
		CreatedAt:      p.created.UTC().Format(time.RFC3339Nano), UpdatedAt: p.updated.UTC().Format(time.RFC3339Nano)}
	for _, n := range p.order {
		out.InboundNumbers = append(out.InboundNumbers, numberJSON{PhoneNumber: n, PersonaID: p.id, PersonaSettings: p.numbers[n]})
	}
	return out
}

func writeData(w http.ResponseWriter, data any) int {
	w.Header().Set("content-type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "errors": nil})
	return http.StatusOK
}

// writeError answers Bland's error envelope; details, when not nil, is the
// error object's details field.
func writeError(w http.ResponseWriter, status int, code, msg string, details map[string]any) int {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"error": code, "message": msg}
	if details != nil {
		e["details"] = details
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": nil, "errors": []map[string]any{e}})
	return status
}
