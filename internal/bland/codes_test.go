package bland

import "testing"

func TestErrorCodesAreClassifiedByWhatTheySay(t *testing.T) {
	tests := []struct {
		code     string
		fallback Kind
		want     Kind
	}{
		{"PERSONA_NOT_FOUND", KindInvalid, KindNotFound},
		{"NUMBER_NOT_FOUND", KindInvalid, KindNumberNotOwned},
		{"INBOUND_NUMBER_NOT_OWNED", KindInvalid, KindNumberNotOwned},
		{"unknown_number", KindInvalid, KindNumberNotOwned},
		{"INVALID_PHONE_NUMBER", KindInvalid, KindInvalid},
		{"NUMBER_LIMIT_REACHED", KindInvalid, KindInvalid},
		{"NUMBER_NOT_ATTACHED", KindInvalid, KindTransient},
		{"INVALID_API_KEY", KindInvalid, KindUnauthorized},
		{"RATE_LIMITED", KindInvalid, KindTransient},
		{"SOMETHING_NEW", KindTransient, KindTransient},
		{"SOMETHING_NEW", KindInvalid, KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := kindOfCode(tt.code, tt.fallback); got != tt.want {
				t.Errorf("kindOfCode(%q) = %s, want %s", tt.code, got, tt.want)
			}
		})
	}
}
