package persona

import (
	"slices"
	"testing"
)

// Without the read a plan needed, only deleted bindings that leave their
// numbers attached let go of them; nothing else of the plan is applied.
func TestAPlanWithoutItsReadOnlyLetsDeletedBindingsGo(t *testing.T) {
	bs := bindings(
		spec{name: "orphan", numbers: []string{n1}, record: []string{n1}, deleting: true, orphan: true},
		spec{name: "suspended", age: 1, numbers: []string{n2}, record: []string{n2}, deleting: true, suspend: true},
		spec{name: "detach", age: 2, numbers: []string{n3}, record: []string{n3}, deleting: true},
		spec{name: "live", age: 3, numbers: []string{n4}},
	)
	_, plan := Decide(bs, nil, FromRecords(bs, ""))
	got := plan.Unread(bs)
	if !slices.Equal(got.Releases["ns/orphan"], []string{n1}) || !slices.Equal(got.Releases["ns/suspended"], []string{n2}) {
		t.Errorf("releases %v: the Orphan and the suspended binding must let go", got.Releases)
	}
	if len(got.Releases) != 2 || got.Writes() || len(got.Claims)+len(got.Handovers) > 0 {
		t.Errorf("without a read the plan kept more than those releases: %+v", got)
	}
}
