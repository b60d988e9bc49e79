package blandsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

const (
	testKey     = "key-a"
	testPersona = "p1"
)

// newTestServer starts a simulator with one account "a" owning numbers and one
// persona, served over HTTP until the test ends.
func newTestServer(t *testing.T, numbers ...string) (*Server, *httptest.Server) {
	t.Helper()
	s := New()
	s.AddAccount("a", testKey, numbers...)
	s.AddPersona(testKey, testPersona, "Support")
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

// answer is a decoded response of the simulator.
type answer struct {
	status int
	Errors []struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"errors"`
}

// do sends one call with ctx and decodes the answer; err is the client's.
func do(ctx context.Context, hs *httptest.Server, key, method, path string, body any) (answer, error) {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, hs.URL+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("authorization", key)
	resp, err := hs.Client().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var a answer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	a.status = resp.StatusCode
	return a, nil
}

// attachBody is the body of an attach or detach of numbers.
func attachBody(numbers ...string) any {
	return map[string][]string{"inbound_numbers": numbers}
}
