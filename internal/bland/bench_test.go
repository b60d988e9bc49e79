package bland

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodePersona decodes a persona with 500 numbers, a tenth of them
// with settings.
func BenchmarkDecodePersona(b *testing.B) {
	var nums []string
	for i := range 500 {
		settings := "null"
		if i%10 == 0 {
			settings = `{"pathway_id":"p","pathway_version":2,"start_node_id":"n"}`
		}
		nums = append(nums, fmt.Sprintf(`{"phone_number":"+1415555%04d","label":null,"persona_id":"p1","persona_settings":%s}`, i, settings))
	}
	body := []byte(`{"data":{"id":"p1","name":"Support","user_id":"u","inbound_numbers":[` + strings.Join(nums, ",") + `],"created_at":"x","updated_at":"y"},"errors":null}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p Persona
		if err := decode("get persona", 200, body, "k", &p); err != nil || len(p.InboundNumbers) != 500 {
			b.Fatal(err)
		}
	}
}
