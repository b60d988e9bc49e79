package bland

import (
	"errors"
	"testing"
)

// FuzzDecode feeds any bytes and status to the response decoder: it must
// return a typed error or a persona with an id, never panic.
func FuzzDecode(f *testing.F) {
	f.Add(200, []byte(`{"data":{"id":"p","inbound_numbers":[{"phone_number":"+14155550001","persona_settings":{"pathway_id":"x"}}]},"errors":null}`))
	f.Add(200, []byte(`{"data":null,"errors":[{"error":"PERSONA_NOT_FOUND","message":"m"}]}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(200, []byte(`{"data":{"id":`))
	f.Add(400, []byte("{\"errors\":[{\"error\":\"\xff\",\"message\":\"\xfe\"}]}"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var p Persona
		err := decode("get persona", status, body, "sk-fuzz", &p)
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("status %d decoded without error", status)
			}
			return
		}
		var be *Error
		if !errors.As(err, &be) || be.Kind == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}
