package persona

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Three bindings of one persona: a and b share a key, c has its own.
func heardBindings() []Binding {
	bs := bindings(spec{name: "a", numbers: []string{n1}}, spec{name: "b", age: 1, numbers: []string{n2}}, spec{name: "c", age: 2, numbers: []string{n3}})
	bs[0].KeyGroup, bs[1].KeyGroup, bs[2].KeyGroup = "k1", "k1", "k2"
	return bs
}

func refusedKey() *Failure { return Fail(v1alpha1.ReasonUnauthorized, "Bland rejected the API key") }

func TestASuccessfulCallIsTheObservationAndProvesItsKey(t *testing.T) {
	bs := heardBindings()
	bs[1].Failure, bs[2].Failure = refusedKey(), refusedKey() // carried from their statuses
	h := Heard{Obs: Observation{Numbers: map[string]*Settings{}, Unsettled: map[string]bool{n4: true}}}
	proven := h.Heed(bs, Answer{Kind: Attach, Group: "k1", Moves: []Move{{Number: n1, Binding: "ns/a"}}, Seen: &Observation{Name: "Support", Numbers: map[string]*Settings{n1: nil}}})
	if !proven || bs[1].Failure != nil {
		t.Errorf("a call that succeeded with key k1 left b's carried refusal (proven %t, failure %v)", proven, bs[1].Failure)
	}
	if bs[2].Failure == nil {
		t.Errorf("a call with key k1 cleared the refusal of c, which uses k2")
	}
	if !h.Obs.Fresh || h.Obs.Name != "Support" || !h.Obs.Has(n1) || !h.Obs.Unsettled[n4] {
		t.Errorf("observation after the answer: %+v", h.Obs)
	}
	if h.Halted() {
		t.Errorf("a successful call halted the pass")
	}
}

func TestAReadRefusedForItsKeyBlocksOnlyThatKeysBindings(t *testing.T) {
	bs := heardBindings()
	h := Heard{}
	f := refusedKey()
	h.Heed(bs, Answer{Kind: Read, Group: "k1", Err: errors.New("401"), Failures: map[string]*Failure{"ns/a": f, "ns/b": f}})
	if !bs[0].Blocked() || !bs[1].Blocked() || bs[2].Failure != nil {
		t.Errorf("failures after a refused read: a %v, b %v, c %v", bs[0].Failure, bs[1].Failure, bs[2].Failure)
	}
	if h.Halted() {
		t.Errorf("a refused key halted the pass: the next key must be tried")
	}
}

func TestAReadThatFailedOtherwiseConcernsEveryBindingWithoutAFailure(t *testing.T) {
	bs := heardBindings()
	bs[2].Failure = refusedKey()
	h := Heard{}
	down := Fail(v1alpha1.ReasonAPIError, "Bland did not answer properly")
	err := errors.New("503")
	h.Heed(bs, Answer{Kind: Read, Group: "k1", Err: err, Failures: map[string]*Failure{"ns/a": down, "ns/b": down, "ns/c": down}})
	if bs[0].Failure != down || bs[1].Failure != down || bs[2].Failure.Reason != v1alpha1.ReasonUnauthorized {
		t.Errorf("failures after a failed read: a %v, b %v, c %v", bs[0].Failure, bs[1].Failure, bs[2].Failure)
	}
	if !errors.Is(h.Retry, err) {
		t.Errorf("the pass retries with %v, want the read's error", h.Retry)
	}
}

func TestAnUnansweredWriteLeavesItsNumbersInDoubt(t *testing.T) {
	bs := heardBindings()
	at := epoch.Add(time.Minute)
	down := Fail(v1alpha1.ReasonAPIError, "no answer")
	h := Heard{Obs: Observation{Numbers: map[string]*Settings{}}}
	err := errors.New("timeout")
	h.Heed(bs, Answer{Kind: Attach, Group: "k1", Moves: []Move{{Number: n1, Binding: "ns/a"}, {Number: n2, Binding: "ns/b"}}, Err: err, Unanswered: true, At: at, Failures: map[string]*Failure{"ns/a": down, "ns/b": down}})
	h.Heed(bs, Answer{Kind: UpdateSettings, Group: "k2", Moves: []Move{{Number: n3, Binding: "ns/c"}}, Err: err, Unanswered: true, At: at.Add(time.Second), Failures: map[string]*Failure{"ns/c": down}})
	if got := slices.Sorted(maps.Keys(h.Obs.Unsettled)); !slices.Equal(got, []string{n1, n2, n3}) {
		t.Errorf("unsettled %v, want every number of both calls", got)
	}
	if !slices.Equal(h.Lost["ns/a"], []string{n1}) || !slices.Equal(h.Lost["ns/b"], []string{n2}) || h.Lost["ns/c"] != nil {
		t.Errorf("lost %v: only an attach's or a detach's numbers may land unrecorded", h.Lost)
	}
	if !h.GaveUp.Equal(at.Add(time.Second)) || !errors.Is(h.Retry, err) || bs[0].Failure != down || bs[2].Failure != down {
		t.Errorf("gave up at %v, retry %v, failures %v %v", h.GaveUp, h.Retry, bs[0].Failure, bs[2].Failure)
	}
}

func TestARefusalSetsTheNumberAsideAndChangesNothingElse(t *testing.T) {
	bs := heardBindings()
	bs[1].Failure = refusedKey()
	h := Heard{Obs: Observation{Numbers: map[string]*Settings{}}}
	no := Refusal{Message: "attach: HTTP 400 INVALID_INBOUND_NUMBERS", NotOwned: true}
	proven := h.Heed(bs, Answer{Kind: Attach, Group: "k1", Moves: []Move{{Number: n1, Binding: "ns/a"}, {Number: n2, Binding: "ns/b"}}, Refused: map[string]Refusal{n1: no}})
	if bs[0].Refused[n1] != no || bs[1].Refused != nil {
		t.Errorf("refused: a %v, b %v", bs[0].Refused, bs[1].Refused)
	}
	if proven || bs[1].Failure == nil || h.Halted() || h.Obs.Fresh {
		t.Errorf("a refusal changed more than the refused number (proven %t, b %v, halted %t, fresh %t)", proven, bs[1].Failure, h.Halted(), h.Obs.Fresh)
	}
}

func TestTheLongestRetryAfterWins(t *testing.T) {
	bs := heardBindings()
	h := Heard{}
	for _, d := range []time.Duration{2 * time.Second, 5 * time.Second, time.Second} {
		f := Fail(v1alpha1.ReasonRateLimited, "slow down")
		f.RetryAfter = d
		h.Heed(bs, Answer{Kind: Detach, Group: "k1", Moves: []Move{{Number: n1, Binding: "ns/a"}}, Err: errors.New("429"), Failures: map[string]*Failure{"ns/a": f}})
	}
	if h.RetryAfter != 5*time.Second || h.Retry != nil || !h.Halted() {
		t.Errorf("retry after %v (retry %v), want 5s", h.RetryAfter, h.Retry)
	}
}
