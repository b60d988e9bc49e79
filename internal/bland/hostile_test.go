package bland_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bland-operator/bland-operator/internal/bland"
)

// TestHostileResponses feeds the client answers an attacker or a broken proxy
// could send: each ends in a clear typed error or a valid persona, within the
// client's bounds of memory and time.
func TestHostileResponses(t *testing.T) {
	t.Run("a 10 MiB body is cut off at the cap", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"data":{"id":"p","name":"`))
			chunk := []byte(strings.Repeat("x", 1<<20))
			for range 10 {
				_, _ = w.Write(chunk)
			}
			_, _ = w.Write([]byte(`"},"errors":null}`))
		}))
		defer srv.Close()
		c, _ := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: -1})
		_, err := c.GetPersona(context.Background(), "k", "p")
		if be, ok := bland.AsError(err); !ok || be.Kind != bland.KindTransient || !strings.Contains(be.Message, "larger than") {
			t.Fatalf("got %v, want a transient 'larger than' error", err)
		}
	})

	t.Run("a slow drip body times out", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"data":`))
			w.(http.Flusher).Flush()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
					_, _ = w.Write([]byte(" "))
					w.(http.Flusher).Flush()
				}
			}
		}))
		defer srv.Close()
		c, _ := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: -1, Timeout: 300 * time.Millisecond})
		start := time.Now()
		_, err := c.GetPersona(context.Background(), "k", "p")
		if bland.KindOf(err) != bland.KindTransient || time.Since(start) > 2*time.Second {
			t.Fatalf("got %v after %s, want a transient error near the 300ms timeout", err, time.Since(start))
		}
	})

	t.Run("a persona with 5,000 numbers decodes", func(t *testing.T) {
		var nums []string
		for i := range 5000 {
			nums = append(nums, fmt.Sprintf(`{"phone_number":"+1415%07d","persona_settings":null}`, i))
		}
		body := `{"data":{"id":"p","inbound_numbers":[` + strings.Join(nums, ",") + `]},"errors":null}`
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
		defer srv.Close()
		c, _ := bland.New(bland.Options{BaseURL: srv.URL, AllowInsecure: true, QPS: -1})
		p, err := c.GetPersona(context.Background(), "k", "p")
		if err != nil || len(p.InboundNumbers) != 5000 {
			t.Fatalf("got %+v, %v; want 5,000 numbers", p, err)
		}
	})
}
