package controller_test

import (
	"context"
	"sync"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// answerless wraps the suite's Bland client and counts, by persona, the
// writes whose answer the client never had (a timeout, a reset): the
// operator makes such a write again, as it must, and a test comparing
// calls with a prediction needs to know it happened. The simulator alone
// cannot tell: under load the client may give up on an answer the
// simulator wrote in time.
type answerless struct {
	*bland.Client
	mu    sync.Mutex
	count map[string]int
}

var unanswered = &answerless{count: map[string]int{}}

// wrap returns a client that counts unanswered writes into a.
func (a *answerless) wrap(c *bland.Client) *answerless {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Client = c
	return a
}

func (a *answerless) note(personaID string, err error) {
	if be, ok := bland.AsError(err); ok && be.StatusCode == 0 && !be.NotSent {
		a.mu.Lock()
		a.count[personaID]++
		a.mu.Unlock()
	}
}

// of is how many writes for the persona went unanswered so far.
func (a *answerless) of(personaID string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count[personaID]
}

func (a *answerless) AttachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*bland.Persona, error) {
	p, err := a.Client.AttachNumbers(ctx, apiKey, personaID, numbers)
	a.note(personaID, err)
	return p, err
}

func (a *answerless) DetachNumbers(ctx context.Context, apiKey, personaID string, numbers []string) (*bland.Persona, error) {
	p, err := a.Client.DetachNumbers(ctx, apiKey, personaID, numbers)
	a.note(personaID, err)
	return p, err
}

func (a *answerless) UpdateNumberSettings(ctx context.Context, apiKey, personaID, number string, s *bland.Settings) (*bland.InboundNumber, error) {
	n, err := a.Client.UpdateNumberSettings(ctx, apiKey, personaID, number, s)
	a.note(personaID, err)
	return n, err
}
