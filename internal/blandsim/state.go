// Package blandsim is an in-memory Bland persona API for tests, benchmarks and
// the demo. It keeps API keys, the numbers each account owns, personas and the
// numbers attached to them, follows the documented rules (attaching moves a
// number, detaching clears its settings, errors come in an envelope), counts and
// records every request, and injects faults on demand.
package blandsim

import (
	"slices"
	"sync"
	"time"
)

// Settings are per-number persona settings, in Bland's JSON shape.
type Settings struct {
	PathwayID      string `json:"pathway_id,omitempty"`
	PathwayVersion *int64 `json:"pathway_version,omitempty"`
	StartNodeID    string `json:"start_node_id,omitempty"`
}

type account struct {
	name    string
	numbers map[string]bool
	// terse answers a refused attach without naming the numbers.
	terse bool
	// v1 answers a refused attach in the words Bland's v1 API uses, naming
	// only the first number that is not the account's.
	v1 bool
	// rateLimit is the calls allowed in one second (0: no limit), and
	// inWindow the calls made in the second that starts at window.
	rateLimit int
	window    time.Time
	inWindow  int
}

type persona struct {
	id      string
	name    string
	account *account
	created time.Time
	updated time.Time
	order   []string // attach order, so responses are stable
	numbers map[string]*Settings
}

// Server is the simulator. Create it with New and serve it with Handler.
type Server struct {
	mu       sync.Mutex
	accounts map[string]*account // by API key
	personas map[string]*persona
	history  []Call
	faults   faultState
	now      func() time.Time
	holds    []*Hold
	latency  map[string]time.Duration // by persona
	late     time.Duration            // see SetLateLanding
	revoked  map[string]bool          // API keys answered as unknown
	roles    map[string]string        // by API key; see SetKeyRole
	agents   map[string]*agent        // by agent ID; see AddAgent
	created  int                      // personas created through the API

	// NotFoundStatus is the HTTP status of a PERSONA_NOT_FOUND answer (404);
	// set it to 200 to mimic an API that reports errors only in the envelope.
	NotFoundStatus int
	// Latency is added to every request.
	Latency time.Duration
	// OnCall, when set, sees every call as it is recorded.
	OnCall func(Call)
}

// New returns an empty simulator.
func New() *Server {
	return &Server{
		accounts:       map[string]*account{},
		personas:       map[string]*persona{},
		now:            time.Now,
		NotFoundStatus: 404,
	}
}

// AddAccount registers an API key of the account name, which owns numbers.
// Calling it again with the same name adds a key or numbers to that account.
// The name identifies the account in the history; the key is never recorded.
func (s *Server) AddAccount(name, apiKey string, numbers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a *account
	for _, existing := range s.accounts {
		if existing.name == name {
			a = existing
		}
	}
	if a == nil {
		a = &account{name: name, numbers: map[string]bool{}}
	}
	s.accounts[apiKey] = a
	for _, n := range numbers {
		a.numbers[n] = true
	}
}

// AddPersona creates a persona in the account of apiKey.
func (s *Server) AddPersona(apiKey, id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.personas[id] = &persona{id: id, name: name, account: s.accounts[apiKey], created: now, updated: now, numbers: map[string]*Settings{}}
}

// SetTerseErrors makes the account's refused attaches name no number, as an
// API that reports only "some number is not yours" would.
func (s *Server) SetTerseErrors(accountName string, on bool) {
	s.forAccount(accountName, func(a *account) { a.terse = on })
}

// forAccount changes the named account, under the lock.
func (s *Server) forAccount(accountName string, change func(*account)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.name == accountName {
			change(a)
		}
	}
}

// SetV1Refusals makes the account's refused attaches answer as Bland's v1 API
// does: 400 INVALID_PHONE_NUMBER, "Phone number <n> does not belong to your
// account", naming only the first such number. No code in the answer says
// "not yours", so a client has to go by the words or split the batch. It
// takes precedence over SetTerseErrors.
func (s *Server) SetV1Refusals(accountName string, on bool) {
	s.forAccount(accountName, func(a *account) { a.v1 = on })
}

// RevokeKey makes every call with apiKey answer 401, as an unknown key does,
// until RestoreKey: a key rotated away or revoked in Bland's dashboard while
// the operator still holds it.
func (s *Server) RevokeKey(apiKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked == nil {
		s.revoked = map[string]bool{}
	}
	s.revoked[apiKey] = true
}

// RestoreKey undoes RevokeKey.
func (s *Server) RestoreKey(apiKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.revoked, apiKey)
}

// account returns the account of a key that may be used now, nil if none.
func (s *Server) account(apiKey string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked[apiKey] {
		return nil
	}
	return s.accounts[apiKey]
}

// DeletePersona removes a persona; its numbers become free.
func (s *Server) DeletePersona(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.personas, id)
}

// Attached returns the numbers attached to a persona, sorted.
func (s *Server) Attached(personaID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.personas[personaID]
	if p == nil {
		return nil
	}
	out := slices.Clone(p.order)
	slices.Sort(out)
	return out
}

// SettingsOf returns a copy of a number's settings on a persona, nil if none.
func (s *Server) SettingsOf(personaID, number string) *Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.personas[personaID]
	if p == nil || p.numbers[number] == nil {
		return nil
	}
	c := *p.numbers[number]
	return &c
}

// AttachOutOfBand attaches numbers as someone outside the operator would,
// without recording a call.
func (s *Server) AttachOutOfBand(personaID string, numbers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.personas[personaID]; p != nil {
		s.attach(p, numbers)
	}
}

// DetachOutOfBand detaches numbers without recording a call.
func (s *Server) DetachOutOfBand(personaID string, numbers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.personas[personaID]; p != nil {
		s.detach(p, numbers)
	}
}

// attach moves each number to p, clearing its settings if it came from
// another persona. The caller holds mu.
func (s *Server) attach(p *persona, numbers []string) {
	for _, n := range numbers {
		if _, ok := p.numbers[n]; ok {
			continue
		}
		for _, other := range s.personas {
			if other != p && other.account == p.account {
				s.detach(other, []string{n})
			}
		}
		p.numbers[n] = nil
		p.order = append(p.order, n)
	}
	p.updated = s.now()
}

// detach removes numbers from p; their settings go with them. The caller holds mu.
func (s *Server) detach(p *persona, numbers []string) {
	for _, n := range numbers {
		if _, ok := p.numbers[n]; !ok {
			continue
		}
		delete(p.numbers, n)
		p.order = slices.DeleteFunc(p.order, func(x string) bool { return x == n })
		p.updated = s.now()
	}
}
