package blandsim

import (
	"context"
	"net/http"
	"slices"
	"testing"
)

func TestRefusedAttachWording(t *testing.T) {
	const good, bad1, bad2 = "+14155550001", "+14155550009", "+14155550008"
	cases := []struct {
		name          string
		v1, terse     bool
		code, message string
	}{
		{name: "by default every missing number is named", code: "NUMBER_NOT_FOUND",
			message: "numbers not in this account: " + bad1 + ", " + bad2},
		{name: "terse errors name no number", terse: true, code: "NUMBER_NOT_FOUND",
			message: "one or more numbers are not in this account"},
		{name: "v1 refusals name the first missing number in Bland's words", v1: true, code: "INVALID_PHONE_NUMBER",
			message: "Phone number " + bad1 + " does not belong to your account"},
		{name: "v1 wording wins over terse", v1: true, terse: true, code: "INVALID_PHONE_NUMBER",
			message: "Phone number " + bad1 + " does not belong to your account"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, hs := newTestServer(t, good)
			s.SetV1Refusals("a", tc.v1)
			s.SetTerseErrors("a", tc.terse)
			a, err := do(context.Background(), hs, testKey, http.MethodPost, "/v1/personas/p1/inbound/attach", attachBody(good, bad1, bad2))
			if err != nil {
				t.Fatal(err)
			}
			if a.status != http.StatusBadRequest || len(a.Errors) != 1 || a.Errors[0].Error != tc.code || a.Errors[0].Message != tc.message {
				t.Fatalf("got %d %+v, want 400 %s %q", a.status, a.Errors, tc.code, tc.message)
			}
			if got := s.Attached(testPersona); len(got) != 0 {
				t.Fatalf("a refused attach attached %v", got)
			}
		})
	}
}

func TestV1RefusalsAreKeptPerAccount(t *testing.T) {
	s, hs := newTestServer(t, "+14155550001")
	s.AddAccount("b", "key-b")
	s.AddPersona("key-b", "p2", "Sales")
	s.SetV1Refusals("b", true)
	a, err := do(context.Background(), hs, testKey, http.MethodPost, "/v1/personas/p1/inbound/attach", attachBody("+14155550009"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Errors) != 1 || a.Errors[0].Error != "NUMBER_NOT_FOUND" {
		t.Fatalf("account a got %+v, want its default wording", a.Errors)
	}
}

func TestARevokedKeyIsAnsweredAsUnknownUntilRestored(t *testing.T) {
	s, hs := newTestServer(t, "+14155550001")
	s.AddAccount("a", "key-other") // a second key of the same account stays valid
	attach := func(key string) int {
		t.Helper()
		a, err := do(context.Background(), hs, key, http.MethodPost, "/v1/personas/p1/inbound/attach", attachBody("+14155550001"))
		if err != nil {
			t.Fatal(err)
		}
		return a.status
	}
	get := func(key string) int {
		t.Helper()
		a, err := do(context.Background(), hs, key, http.MethodGet, "/v1/personas/p1", nil)
		if err != nil {
			t.Fatal(err)
		}
		return a.status
	}

	s.RevokeKey(testKey)
	if got := attach(testKey); got != http.StatusUnauthorized {
		t.Fatalf("attach with a revoked key answered %d, want 401", got)
	}
	if got := get(testKey); got != http.StatusUnauthorized {
		t.Fatalf("get with a revoked key answered %d, want 401", got)
	}
	if got := s.Attached(testPersona); len(got) != 0 {
		t.Fatalf("a revoked key attached %v", got)
	}
	if got := get("key-other"); got != http.StatusOK {
		t.Fatalf("another key of the account answered %d, want 200", got)
	}
	unauthorized := s.Calls(func(c Call) bool { return c.Status == http.StatusUnauthorized })
	if len(unauthorized) != 2 || slices.ContainsFunc(unauthorized, func(c Call) bool { return c.Account != "" }) {
		t.Fatalf("refused calls recorded as %+v, want two with no account, as an unknown key", unauthorized)
	}

	s.RestoreKey(testKey)
	if got := attach(testKey); got != http.StatusOK {
		t.Fatalf("attach with a restored key answered %d, want 200", got)
	}
	if got := s.Attached(testPersona); !slices.Equal(got, []string{"+14155550001"}) {
		t.Fatalf("attached %v after restore", got)
	}
}
