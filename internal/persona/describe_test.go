package persona

import "testing"

// A binding names bindings of its own namespace; those of other namespaces
// only when it may see them (a single-team cluster).
func TestABindingNamesOtherNamespacesOnlyWhenAllowed(t *testing.T) {
	b := bindings(spec{name: "a"})[0] // namespace "ns"
	if got := b.Describe("ns/b"); got != "PersonaBinding ns/b" {
		t.Errorf("same namespace: %q", got)
	}
	if got := b.Describe("team-x/c"); got != "a PersonaBinding in another namespace" {
		t.Errorf("another namespace: %q", got)
	}
	b.SeesOtherNamespaces = true
	if got := b.Describe("team-x/c"); got != "PersonaBinding team-x/c" {
		t.Errorf("another namespace, allowed: %q", got)
	}
}
