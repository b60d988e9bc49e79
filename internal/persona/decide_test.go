package persona

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// outcome is a plan written as short strings, so that table rows read well:
// "a:+1…" is binding a and a number, "a>b:+1…" a handover from a to b,
// "b:+1…<a" a conflict of b's number with a.
type outcome struct {
	holders   map[string]string
	conflicts []string
	attach    []string
	detach    []string
	handovers []string
	releases  []string
	pending   []string
	kept      []string
	needsRead bool
}

func summarize(o Owners, p Plan) outcome {
	short := func(k string) string { return strings.TrimPrefix(k, "ns/") }
	var out outcome
	out.holders = map[string]string{}
	for n, h := range o.Holder {
		out.holders[n] = short(h)
	}
	for b, c := range o.Conflicts {
		for n, h := range c {
			out.conflicts = append(out.conflicts, short(b)+":"+n+"<"+short(h))
		}
	}
	for _, m := range p.Attach {
		out.attach = append(out.attach, short(m.Binding)+":"+m.Number)
	}
	for _, m := range p.Detach {
		out.detach = append(out.detach, short(m.Binding)+":"+m.Number)
	}
	for _, h := range p.Handovers {
		out.handovers = append(out.handovers, short(h.From)+">"+short(h.To)+":"+h.Number)
	}
	for b, ns := range p.Releases {
		for _, n := range ns {
			out.releases = append(out.releases, short(b)+":"+n)
		}
	}
	for b, ns := range p.PendingDetach {
		for _, n := range ns {
			out.pending = append(out.pending, short(b)+":"+n)
		}
	}
	for b, ns := range p.Kept {
		for n, c := range ns {
			out.kept = append(out.kept, short(b)+":"+n+">"+short(c))
		}
	}
	out.needsRead = p.NeedsRead
	return out
}

// TestDecide is the owner function's and the plan's table: older wins,
// exclusive sweeps, suspension, deletion, the detach limit and handovers.
func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		bindings []spec
		rivals   []spec
		obs      Observation
		want     outcome
	}{{
		name:     "a new binding attaches every number it lists",
		bindings: []spec{{name: "a", numbers: []string{n1, n2}}},
		obs:      fresh(),
		want:     outcome{holders: map[string]string{n1: "a", n2: "a"}, attach: []string{"a:" + n1, "a:" + n2}},
	}, {
		name:     "a binding in sync plans nothing",
		bindings: []spec{{name: "a", numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{n1: "a"}},
	}, {
		name:     "a dropped number is detached",
		bindings: []spec{{name: "a", numbers: []string{n1}, record: []string{n1, n2}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{n1: "a"}, detach: []string{"a:" + n2}},
	}, {
		name:     "a dropped number planned from the records is detached without a read",
		bindings: []spec{{name: "a", numbers: []string{n1}, record: []string{n1, n2}}},
		obs:      Observation{Numbers: map[string]*Settings{n1: nil, n2: nil}},
		want:     outcome{holders: map[string]string{n1: "a"}, detach: []string{"a:" + n2}},
	}, {
		name:     "a dropped number already gone is released without a call",
		bindings: []spec{{name: "a", numbers: []string{n1}, record: []string{n1, n2}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{n1: "a"}, releases: []string{"a:" + n2}},
	}, {
		name:     "the older of two bindings listing a number holds it; the younger reports a conflict",
		bindings: []spec{{name: "b", age: 2, numbers: []string{n1}}, {name: "a", age: 1, numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{n1: "a"}, conflicts: []string{"b:" + n1 + "<a"}},
	}, {
		name:     "equal ages are settled by name",
		bindings: []spec{{name: "b", numbers: []string{n1}}, {name: "a", numbers: []string{n1}}},
		obs:      fresh(),
		want:     outcome{holders: map[string]string{n1: "a"}, conflicts: []string{"b:" + n1 + "<a"}, attach: []string{"a:" + n1}},
	}, {
		name:     "an older binding of another persona claims the number; the younger here keeps it in its record while it is still here",
		bindings: []spec{{name: "b", age: 2, numbers: []string{n1}, record: []string{n1}}},
		rivals:   []spec{{name: "a", age: 1, persona: p2, numbers: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{}, conflicts: []string{"b:" + n1 + "<a"}},
	}, {
		name:     "a number an older binding of another persona claims is released once a read shows it gone",
		bindings: []spec{{name: "b", age: 2, numbers: []string{n1}, record: []string{n1}}},
		rivals:   []spec{{name: "a", age: 1, persona: p2, numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(),
		want:     outcome{holders: map[string]string{}, conflicts: []string{"b:" + n1 + "<a"}, releases: []string{"b:" + n1}},
	}, {
		name:     "a number the older binding of another persona has recorded is looked for with a read",
		bindings: []spec{{name: "b", age: 2, numbers: []string{n1}, record: []string{n1}}},
		rivals:   []spec{{name: "a", age: 1, persona: p2, numbers: []string{n1}, record: []string{n1}}},
		obs:      Observation{Numbers: map[string]*Settings{n1: nil}},
		want:     outcome{holders: map[string]string{}, conflicts: []string{"b:" + n1 + "<a"}, needsRead: true},
	}, {
		name:     "a younger binding of another persona changes nothing here",
		bindings: []spec{{name: "a", age: 1, numbers: []string{n1}}},
		rivals:   []spec{{name: "b", age: 2, persona: p2, numbers: []string{n1}}},
		obs:      fresh(),
		want:     outcome{holders: map[string]string{n1: "a"}, attach: []string{"a:" + n1}},
	}, {
		name:     "a number one binding drops and another lists changes owner with no call",
		bindings: []spec{{name: "a", age: 1, numbers: []string{n2}, record: []string{n1, n2}}, {name: "b", age: 2, numbers: []string{n1}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{n1: "b", n2: "a"}, handovers: []string{"a>b:" + n1}, releases: []string{"a:" + n1}},
	}, {
		name:     "a handover planned from the records needs a read first",
		bindings: []spec{{name: "a", age: 1, numbers: []string{n2}, record: []string{n1, n2}}, {name: "b", age: 2, numbers: []string{n1}}},
		obs:      Observation{Numbers: map[string]*Settings{n1: nil, n2: nil}},
		want:     outcome{holders: map[string]string{n1: "b", n2: "a"}, handovers: []string{"a>b:" + n1}, releases: []string{"a:" + n1}, needsRead: true},
	}, {
		name:     "a deleted binding hands over what another binding lists and detaches the rest",
		bindings: []spec{{name: "a", age: 1, deleting: true, numbers: []string{n1, n2}, record: []string{n1, n2}}, {name: "b", age: 2, numbers: []string{n1}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{n1: "b"}, handovers: []string{"a>b:" + n1}, releases: []string{"a:" + n1}, detach: []string{"a:" + n2}},
	}, {
		name:     "a deleted binding with deletionPolicy Orphan lets go without a call",
		bindings: []spec{{name: "a", deleting: true, orphan: true, numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{}, releases: []string{"a:" + n1}},
	}, {
		name:     "a deleted suspended binding changes nothing in Bland",
		bindings: []spec{{name: "a", deleting: true, suspend: true, numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{}, releases: []string{"a:" + n1}},
	}, {
		name:     "a deleted binding whose key is missing keeps its record and waits",
		bindings: []spec{{name: "a", deleting: true, blocked: true, numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{}},
	}, {
		name:     "a deleted binding let go at namespace teardown releases without a call",
		bindings: []spec{{name: "a", deleting: true, blocked: true, letGo: true, numbers: []string{n1}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{}, releases: []string{"a:" + n1}},
	}, {
		name:     "a number dropped next to a suspended binding that lists it is detached: it could not take it",
		bindings: []spec{{name: "a", age: 1, numbers: []string{n2}, record: []string{n1, n2}}, {name: "b", age: 2, suspend: true, numbers: []string{n1}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{n2: "a"}, detach: []string{"a:" + n1}},
	}, {
		name:     "a suspended binding keeps what it holds, attaches nothing, and needs a read to report",
		bindings: []spec{{name: "a", suspend: true, numbers: []string{n2}, record: []string{n1}}},
		obs:      Observation{Numbers: map[string]*Settings{n1: nil}},
		want:     outcome{holders: map[string]string{}, needsRead: true},
	}, {
		name:     "an exclusive binding sweeps what nobody lists",
		bindings: []spec{{name: "a", exclusive: true, numbers: []string{n1}, record: []string{n1}}},
		rivals:   []spec{{name: "z", age: 9, persona: p2, numbers: []string{n3}}},
		obs:      fresh(n1, n2, n3),
		want:     outcome{holders: map[string]string{n1: "a"}, detach: []string{"a:" + n2}},
	}, {
		name:     "an exclusive sweep needs a read at a generation its status has not reported",
		bindings: []spec{{name: "a", exclusive: true, changed: true, numbers: []string{n1}, record: []string{n1}}},
		obs:      Observation{Numbers: map[string]*Settings{n1: nil}},
		want:     outcome{holders: map[string]string{n1: "a"}, needsRead: true},
	}, {
		name:     "an exclusive binding that swept at its generation is planned from its record until a read",
		bindings: []spec{{name: "a", exclusive: true, numbers: []string{n1}, record: []string{n1}}},
		obs:      Observation{Numbers: map[string]*Settings{n1: nil}},
		want:     outcome{holders: map[string]string{n1: "a"}},
	}, {
		name:     "an exclusive binding younger than another on its persona is shut out and sweeps nothing",
		bindings: []spec{{name: "a", age: 1, numbers: []string{n1}, record: []string{n1}}, {name: "b", age: 2, exclusive: true, numbers: []string{n2}}},
		obs:      fresh(n1, n3),
		want:     outcome{holders: map[string]string{n1: "a"}, conflicts: []string{"b:" + n2 + "<a"}},
	}, {
		name:     "a detach past the limit waits for approval; the attach goes ahead",
		bindings: []spec{{name: "a", limit: 1, numbers: []string{n3}, record: []string{n1, n2}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{n3: "a"}, attach: []string{"a:" + n3}, pending: []string{"a:" + n1, "a:" + n2}},
	}, {
		name:     "an approved detach past the limit goes ahead",
		bindings: []spec{{name: "a", limit: 1, approved: true, record: []string{n1, n2}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{}, detach: []string{"a:" + n1, "a:" + n2}},
	}, {
		name:     "deletion is not held by the detach limit",
		bindings: []spec{{name: "a", limit: 1, deleting: true, record: []string{n1, n2}}},
		obs:      fresh(n1, n2),
		want:     outcome{holders: map[string]string{}, detach: []string{"a:" + n1, "a:" + n2}},
	}, {
		name:     "a refused number is not tried again and is held by nobody",
		bindings: []spec{{name: "a", numbers: []string{n1, n2}, refused: []string{n2}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{n1: "a"}},
	}, {
		name:     "a binding whose key is missing holds nothing new but keeps what it has",
		bindings: []spec{{name: "a", blocked: true, numbers: []string{n1, n2}, record: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{}},
	}, {
		name: "a number its holder drops is not detached while a blocked binding lists it: the holder keeps it for that binding",
		bindings: []spec{
			{name: "a", age: 0, record: []string{n1}},
			{name: "b", age: 1, blocked: true, numbers: []string{n1}},
		},
		obs:  fresh(n1),
		want: outcome{holders: map[string]string{}, kept: []string{"a:" + n1 + ">b"}},
	}, {
		name: "a deleted binding keeps a number for the blocked binding that lists it",
		bindings: []spec{
			{name: "a", age: 0, deleting: true, numbers: []string{n1}, record: []string{n1}},
			{name: "b", age: 1, blocked: true, numbers: []string{n1}},
		},
		obs:  fresh(n1),
		want: outcome{holders: map[string]string{}, kept: []string{"a:" + n1 + ">b"}},
	}, {
		name: "a number kept for a blocked binding is detached once that binding is gone",
		bindings: []spec{
			{name: "a", age: 0, record: []string{n1}},
			{name: "b", age: 1, deleting: true, blocked: true, numbers: []string{n1}},
		},
		obs:  fresh(n1),
		want: outcome{holders: map[string]string{}, detach: []string{"a:" + n1}},
	}, {
		name: "a number its holder drops is detached when the binding listing it here is younger than its claimant elsewhere",
		bindings: []spec{
			{name: "a", age: 0, record: []string{n1}},
			{name: "b", age: 2, blocked: true, numbers: []string{n1}},
		},
		rivals: []spec{{name: "r", persona: p2, age: 1, numbers: []string{n1}}},
		obs:    fresh(n1),
		want:   outcome{holders: map[string]string{}, conflicts: []string{"b:" + n1 + "<r"}, detach: []string{"a:" + n1}},
	}, {
		name:     "a number a call without an answer may still change is left alone",
		bindings: []spec{{name: "a", record: []string{n1}}},
		obs:      Observation{Numbers: map[string]*Settings{}, Fresh: true, Unsettled: map[string]bool{n1: true}},
		want:     outcome{holders: map[string]string{}},
	}, {
		name:     "an attached number its holder does not record is adopted, with no call",
		bindings: []spec{{name: "a", numbers: []string{n1}}},
		obs:      fresh(n1),
		want:     outcome{holders: map[string]string{n1: "a"}},
	}}
	sortAll := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rivals []PB
			for _, r := range tt.rivals {
				rivals = append(rivals, r.object())
			}
			got := summarize(Decide(bindings(tt.bindings...), rivals, tt.obs))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(outcome{}), sortAll, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTheIntentNamesTheAttachesBeforeTheyAreMade checks the attach journal:
// a number about to be attached that the record lacks is named before any
// call; a number only handed over, or detached, is not (no unanswered call
// could leave it attached unrecorded); until the status accounts for the
// intent its numbers count as held, and in doubt until its deadline.
func TestTheIntentNamesTheAttachesBeforeTheyAreMade(t *testing.T) {
	bs := bindings(spec{name: "a", age: 1, numbers: []string{n2}, record: []string{n1, n2, n4}}, spec{name: "b", age: 2, numbers: []string{n1, n3}})
	_, p := Decide(bs, nil, fresh(n1, n2, n4))
	if got := Gains(p, &bs[1]); !slices.Equal(got, []string{n3}) {
		t.Errorf("b's attaches gain %v, want %v (n1 is only handed over)", got, []string{n3})
	}
	if got := Gains(p, &bs[0]); len(got) != 0 {
		t.Errorf("a's calls gain %v, want none (a detach needs no intent)", got)
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pb := bs[1].Object
	in, write := NextIntent(pb, Gains(p, &bs[1]), nil, now.Add(time.Minute), now.Add(90*time.Second))
	if !write || in.Seq != 1 || !in.Until.Equal(now.Add(91*time.Second)) {
		t.Fatalf("first intent = %+v (write %v), want sequence 1 until %v", in, write, now.Add(91*time.Second))
	}
	pb.Annotations = map[string]string{v1alpha1.IntentAnnotation: in.String()}
	if back, _ := IntentOf(pb); back.Seq != in.Seq || !slices.Equal(back.Numbers, in.Numbers) || !back.Until.Equal(in.Until) {
		t.Errorf("the annotation %q reads back as %+v", in, back)
	}
	if got := Held(pb); !slices.Equal(got, []string{n3}) {
		t.Errorf("held while the intent %q is pending = %v, want %v", in, got, []string{n3})
	}
	doubt := map[string]bool{}
	InDoubt(pb, now, doubt)
	if !doubt[n3] {
		t.Errorf("before its deadline the intent's numbers are not in doubt: %v", doubt)
	}
	if Settles(pb, doubt, true, false) {
		t.Error("a read before the deadline settled the intent")
	}
	if again, write := NextIntent(pb, []string{n3}, doubt, now.Add(time.Minute), now.Add(90*time.Second)); write {
		t.Errorf("a retry of the same attach rewrote the intent as %q", again)
	}
	after := map[string]bool{}
	InDoubt(pb, in.Until, after)
	if len(after) != 0 || !Settles(pb, after, true, false) {
		t.Errorf("a read at the deadline did not settle the intent (doubt %v)", after)
	}
	if Settles(pb, after, false, false) {
		t.Error("the intent was settled with neither a read nor an answer")
	}
	pb.Status.ObservedIntent = in.Seq
	if got := Held(pb); len(got) != 0 {
		t.Errorf("held once the status accounts for intent %d = %v, want none", in.Seq, got)
	}
	if next, _ := NextIntent(pb, []string{n3}, nil, now, now); next.Seq != in.Seq+1 {
		t.Errorf("next intent sequence = %d, want %d", next.Seq, in.Seq+1)
	}
	pb.Annotations[v1alpha1.IntentAnnotation] = "garbled"
	if _, pending := PendingIntent(pb); !pending {
		t.Error("an intent that does not parse must count as pending until a read settles it")
	}
}

// TestAnEarlierReleasesClaimInStatusBecomesAnIntent checks the upgrade from
// the release that wrote its claim into status.boundNumbers with
// Reconciling=True before each call.
func TestAnEarlierReleasesClaimInStatusBecomesAnIntent(t *testing.T) {
	bs := bindings(spec{name: "a", numbers: []string{n1, n2}, record: []string{n1, n2}})
	pb := bs[0].Object
	if _, legacy := LegacyIntent(pb); legacy {
		t.Fatal("a binding that is not mid-change was taken for one")
	}
	SetConditions(&pb.Status, pb.Generation, Progressing, v1alpha1.ReasonProgressing, "taking "+n2)
	if nums, legacy := LegacyIntent(pb); !legacy || !slices.Equal(nums, []string{n1, n2}) {
		t.Fatalf("the earlier release's claim reads as %v (%v)", nums, legacy)
	}
	// Its attach that got no answer: that release reported the failure
	// (APIError, still Reconciling) and kept the claim; the call may land.
	SetConditions(&pb.Status, pb.Generation, Progressing, v1alpha1.ReasonAPIError, "attach numbers: no answer")
	if nums, legacy := LegacyIntent(pb); !legacy || !slices.Equal(nums, []string{n1, n2}) {
		t.Fatalf("the earlier release's claim after an unanswered attach reads as %v (%v)", nums, legacy)
	}
	pb.Annotations = map[string]string{v1alpha1.IntentAnnotation: "1:" + n2}
	if _, legacy := LegacyIntent(pb); legacy {
		t.Error("a binding with an intent annotation was taken for the earlier release's form")
	}
}

// TestSettingsFollowTheHolder covers overrides: set, left alone, cleared,
// and carried along by a handover.
func TestSettingsFollowTheHolder(t *testing.T) {
	withPathway := func(numbers ...string) Observation {
		o := fresh(numbers...)
		for _, n := range numbers {
			o.Numbers[n] = &Settings{PathwayID: "old"}
		}
		return o
	}
	tests := []struct {
		name     string
		bindings []spec
		obs      Observation
		want     []string
	}{
		{"a wanted pathway is applied", []spec{{name: "a", numbers: []string{n1}, record: []string{n1}, want: map[string]string{n1: "new"}}}, fresh(n1), []string{n1 + "=new"}},
		{"a fresh attach gets its pathway", []spec{{name: "a", numbers: []string{n1}, want: map[string]string{n1: "new"}}}, fresh(), []string{n1 + "=new"}},
		{"a pathway the operator never set is left alone", []spec{{name: "a", numbers: []string{n1}, record: []string{n1}}}, withPathway(n1), nil},
		{"a pathway the operator set and the spec dropped is cleared", []spec{{name: "a", numbers: []string{n1}, record: []string{n1}, applied: map[string]string{n1: "old"}}}, withPathway(n1), []string{n1 + "="}},
		{"a handed-over number's pathway is cleared when the taker wants none", []spec{
			{name: "a", age: 1, record: []string{n1}, applied: map[string]string{n1: "old"}},
			{name: "b", age: 2, numbers: []string{n1}},
		}, withPathway(n1), []string{n1 + "="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := Decide(bindings(tt.bindings...), nil, tt.obs)
			var got []string
			for _, c := range p.Settings {
				id := ""
				if c.Settings != nil {
					id = c.Settings.PathwayID
				}
				got = append(got, c.Number+"="+id)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("settings = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStatusClaimsOnlyWhatIsObserved checks the Ready rules: Synced only when
// the observation shows the spec met; a refusal rolls its claim back.
func TestStatusClaimsOnlyWhatIsObserved(t *testing.T) {
	tests := []struct {
		name   string
		b      spec
		obs    Observation
		reason string
		record []string
	}{
		{"every number attached is Synced", spec{name: "a", numbers: []string{n1}, record: []string{n1}}, fresh(n1), v1alpha1.ReasonSynced, []string{n1}},
		{"a claimed number that is not attached is not Synced, and its claim rolls back", spec{name: "a", numbers: []string{n1}}, fresh(), v1alpha1.ReasonProgressing, nil},
		{"a refused number stalls the binding and is not held", spec{name: "a", numbers: []string{n1, n2}, refused: []string{n2}, record: []string{n1}}, fresh(n1), v1alpha1.ReasonNumberNotOwned, []string{n1}},
		{"a number an unanswered call may change is not Synced, and stays recorded", spec{name: "a", numbers: []string{n1}, record: []string{n1}},
			Observation{Numbers: map[string]*Settings{}, Fresh: true, Unsettled: map[string]bool{n1: true}}, v1alpha1.ReasonProgressing, []string{n1}},
		{"a dropped number still attached is not Synced", spec{name: "a", limit: 0, numbers: []string{}, record: []string{n1}, suspend: false, blocked: true}, fresh(n1), v1alpha1.ReasonCredentialsNotFound, []string{n1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := bindings(tt.b)
			owners, p := Decide(bs, nil, tt.obs)
			record := RecordAfter(&bs[0], p, tt.obs)
			st := Status(&bs[0], owners, p, tt.obs, record)
			ready := st.Conditions[0]
			if ready.Reason != tt.reason {
				t.Errorf("Ready reason = %s (%s), want %s", ready.Reason, ready.Message, tt.reason)
			}
			if !slices.Equal(record, tt.record) {
				t.Errorf("record = %v, want %v", record, tt.record)
			}
		})
	}
}

// TestAKeptNumberIsNamedInTheStatus checks what a binding says of a number it
// keeps for a blocked binding: not Synced, the number still in its record,
// and the binding it waits for named, live or deleted.
func TestAKeptNumberIsNamedInTheStatus(t *testing.T) {
	for _, deleting := range []bool{false, true} {
		bs := bindings(spec{name: "a", deleting: deleting, record: []string{n1}}, spec{name: "b", age: 1, blocked: true, numbers: []string{n1}})
		obs := fresh(n1)
		owners, p := Decide(bs, nil, obs)
		record := RecordAfter(&bs[0], p, obs)
		st := Status(&bs[0], owners, p, obs, record)
		ready := st.Conditions[0]
		want := "keeping " + n1 + " attached until PersonaBinding ns/b, which lists it, can take it"
		if ready.Status != "False" || !strings.Contains(ready.Message, want) {
			t.Errorf("deleting=%v: Ready = %s %s %q, want False with %q", deleting, ready.Status, ready.Reason, ready.Message, want)
		}
		if !slices.Equal(record, []string{n1}) {
			t.Errorf("deleting=%v: record = %v, want [%s]", deleting, record, n1)
		}
		if len(st.Numbers) != 1 || st.Numbers[0].State != v1alpha1.NumberPending || !strings.Contains(st.Numbers[0].Message, "ns/b") {
			t.Errorf("deleting=%v: numbers = %+v, want %s pending for ns/b", deleting, st.Numbers, n1)
		}
	}
}
