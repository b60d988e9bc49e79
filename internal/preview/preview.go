// Package preview says what applying a set of bindings would do to Bland:
// per binding, the numbers attached, detached and handed over, the
// settings changed, the detach limits tripped and the conflicts met, and the
// Ready reason each binding would reach. It runs the controller's own
// decisions (package persona) on the bindings as they would be stored, so
// the preview cannot drift from the behaviour. It is pure: the plugin reads
// the cluster, this package decides. An AgentBinding is given to it as the
// controller's planner sees it (persona.AgentView): a binding whose persona
// is its agent's target.
package preview

import (
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// FormatVersion is the version of the JSON report. Consumers ignore fields
// they do not know and refuse a major version they do not know.
const FormatVersion = "1.1"

// Input is what a preview is made from.
type Input struct {
	// Proposed are the bindings as the API server would store them (after
	// a server-side dry run: defaults, generation), or as parsed.
	Proposed []*v1alpha1.PersonaBinding
	// Live are the bindings in the cluster, of every persona involved.
	Live []v1alpha1.PersonaBinding
	// Observed, when set, is a fresh read of a persona (by persona ID):
	// the numbers attached and their settings. Without it, the preview
	// plans from what the bindings' statuses recorded, as the controller
	// does for a spec change.
	Observed map[string]map[string]*persona.Settings
	// NotFound are the personas a fresh read found missing in Bland (or
	// that the key may not see): their bindings stall, as the operator's.
	NotFound map[string]bool
	// DefaultDetachLimit is the manager's --default-detach-limit.
	DefaultDetachLimit int
	Now                time.Time
}

// Report is the whole preview.
type Report struct {
	FormatVersion string `json:"formatVersion"`
	// Notes say what the plan could not see (a dry run not performed,
	// namespaces not listed).
	Notes []string `json:"notes,omitempty"`
	// Errors are the inputs refused (malformed, an unknown field, or
	// rejected by the API server's dry run); the others are still planned.
	Errors   []Rejection     `json:"errors,omitempty"`
	Personas []PersonaReport `json:"personas"`
	Summary  Summary         `json:"summary"`
}

// Rejection is one input the plan refused, and why.
type Rejection struct {
	// Source is the file (or "-", standard input) it came from, when known.
	Source string `json:"source,omitempty"`
	// Kind is the binding's kind (PersonaBinding or AgentBinding), when known.
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Message   string `json:"message"`
}

// PersonaReport is the plan of one persona, or of one agent in one
// environment (ID is then the target "agent:<agentID>:<environment>").
type PersonaReport struct {
	ID          string `json:"id"`
	Agent       string `json:"agent,omitempty"`
	Environment string `json:"environment,omitempty"`
	// Source is "records" (the statuses, no call) or "bland" (a fresh read).
	Source string `json:"source"`
	// RecordedAt is when a status of the persona's bindings last changed:
	// how old a plan made from the records may be.
	RecordedAt *time.Time `json:"recordedAt,omitempty"`
	// NeedsRead: the controller reads the persona before this plan (a
	// handover, an exclusive sweep), so a drift since the records would
	// change it.
	NeedsRead bool `json:"needsRead,omitempty"`
	// Calls are the Bland writes the controller would make (one detach, one
	// attach, one per settings change; batches split past 100 numbers).
	Calls    int             `json:"calls"`
	Bindings []BindingReport `json:"bindings"`
}

// BindingReport is what one binding would see.
type BindingReport struct {
	// Kind is PersonaBinding or AgentBinding.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Proposed  bool   `json:"proposed"`
	New       bool   `json:"new,omitempty"`
	// Deleted: the input deletes it (--prune): it detaches what it holds,
	// or under Orphan leaves it attached.
	Deleted    bool  `json:"deleted,omitempty"`
	Generation int64 `json:"generation"`

	Attach      []string         `json:"attach,omitempty"`
	Detach      []string         `json:"detach,omitempty"`
	Settings    []SettingsChange `json:"settings,omitempty"`
	HandoverOut []Handover       `json:"handoverOut,omitempty"`
	HandoverIn  []Handover       `json:"handoverIn,omitempty"`
	// MovedOut are numbers it no longer lists that a binding of the other
	// kind claims: that binding's attach moves them, and none is detached.
	MovedOut     []Handover        `json:"movedOut,omitempty"`
	Guard        *Guard            `json:"guard,omitempty"`
	Conflicts    map[string]string `json:"conflicts,omitempty"`
	PendingAfter []string          `json:"pendingDetach,omitempty"`
	// Spec lists the other fields of the spec the input changes.
	Spec []FieldChange `json:"spec,omitempty"`

	// Ready is the Ready condition the binding would reach.
	Ready Condition `json:"ready"`
	// Stalls: it would stop and wait for a person.
	Stalls bool `json:"stalls,omitempty"`
	// AlreadyStalled: it is not in the input and would stall just the
	// same without it: context, which never sets the exit status.
	AlreadyStalled bool `json:"alreadyStalled,omitempty"`
	Changes        bool `json:"changes"`
}

// SettingsChange is one number's overrides, from and to (nil: none).
type SettingsChange struct {
	Number string            `json:"number"`
	From   *persona.Settings `json:"from"`
	To     *persona.Settings `json:"to"`
}

// Handover is a number that changes binding without a call.
type Handover struct {
	Number string `json:"number"`
	// Binding is namespace/name of a PersonaBinding, AgentBinding/namespace/name
	// of an AgentBinding.
	Binding string `json:"binding"`
}

// Guard is a detach limit the change would trip, and how to approve it.
type Guard struct {
	Limit    int      `json:"limit"`
	Numbers  []string `json:"numbers"`
	Approval string   `json:"approval"`
}

// Condition is a predicted condition.
type Condition struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Summary counts the report.
type Summary struct {
	Changed   int `json:"bindingsToChange"`
	Attach    int `json:"attach"`
	Detach    int `json:"detach"`
	Settings  int `json:"settings"`
	Handovers int `json:"handovers"`
	Calls     int `json:"calls"`
	// Stalls counts the bindings of the input, and those whose outcome the
	// input changes, that would stall; AlreadyStalled the others.
	Stalls         int `json:"bindingsThatWouldStall"`
	AlreadyStalled int `json:"bindingsAlreadyStalled,omitempty"`
}

// Make plans every persona a proposed binding names (or named before).
func Make(in Input) Report {
	merged, proposed, fresh := merge(in.Live, in.Proposed)
	var ids []string
	for _, pb := range in.Proposed {
		ids = append(ids, pb.Spec.PersonaID)
	}
	for i := range in.Live {
		if proposed[key(&in.Live[i])] != nil {
			ids = append(ids, in.Live[i].Spec.PersonaID)
		}
	}
	slices.Sort(ids)
	rep := Report{FormatVersion: FormatVersion, Personas: []PersonaReport{}}
	for _, id := range slices.Compact(ids) {
		pr := planPersona(id, merged, proposed, fresh, in)
		markAlreadyStalled(pr, planPersona(id, asPointers(in.Live), nil, nil, in))
		rep.Personas = append(rep.Personas, pr)
		rep.Summary.Calls += pr.Calls
		for _, b := range pr.Bindings {
			if b.Changes {
				rep.Summary.Changed++
			}
			switch {
			case b.AlreadyStalled:
				rep.Summary.AlreadyStalled++
			case b.Stalls:
				rep.Summary.Stalls++
			}
			rep.Summary.Attach += len(b.Attach)
			rep.Summary.Detach += len(b.Detach)
			rep.Summary.Settings += len(b.Settings)
			rep.Summary.Handovers += len(b.HandoverIn)
		}
	}
	return rep
}

// markAlreadyStalled marks the bindings outside the input that would stall
// with the same Ready reason if the input were not applied (baseline):
// stalls the input does not cause, which a CI gate must not pin on it.
func markAlreadyStalled(pr PersonaReport, baseline PersonaReport) {
	before := map[string]BindingReport{}
	for _, b := range baseline.Bindings {
		before[b.Namespace+"/"+b.Name] = b
	}
	for i := range pr.Bindings {
		b := &pr.Bindings[i]
		was, ok := before[b.Namespace+"/"+b.Name]
		b.AlreadyStalled = !b.Proposed && b.Stalls && ok && was.Stalls && was.Ready.Reason == b.Ready.Reason
	}
}

// liveCopy is the live binding named key, or nil.
func liveCopy(live []v1alpha1.PersonaBinding, key string) *v1alpha1.PersonaBinding {
	for i := range live {
		if persona.KeyOf(&live[i]) == key {
			return &live[i]
		}
	}
	return nil
}

func asPointers(live []v1alpha1.PersonaBinding) []*v1alpha1.PersonaBinding {
	out := make([]*v1alpha1.PersonaBinding, 0, len(live))
	for i := range live {
		out = append(out, &live[i])
	}
	return out
}

// merge puts each proposed binding in place of its live copy, or adds it
// (and says so in fresh).
func merge(live []v1alpha1.PersonaBinding, proposed []*v1alpha1.PersonaBinding) ([]*v1alpha1.PersonaBinding, map[string]*v1alpha1.PersonaBinding, map[string]bool) {
	byKey := map[string]*v1alpha1.PersonaBinding{}
	for _, pb := range proposed {
		byKey[key(pb)] = pb
	}
	var out []*v1alpha1.PersonaBinding
	seen := map[string]bool{}
	for i := range live {
		k := key(&live[i])
		seen[k] = true
		if p := byKey[k]; p != nil {
			out = append(out, p)
			continue
		}
		out = append(out, &live[i])
	}
	// A new binding is created when the change is applied, after every live
	// one: it is the youngest, even when the dry run stamped it within the
	// same second as a live binding (ages are in seconds, ties go by name).
	youngest := metav1.Time{}
	for i := range live {
		if t := live[i].CreationTimestamp; youngest.Before(&t) {
			youngest = t
		}
	}
	fresh := map[string]bool{}
	for _, pb := range proposed {
		if !seen[key(pb)] {
			if !youngest.Before(&pb.CreationTimestamp) {
				pb = pb.DeepCopy()
				pb.CreationTimestamp = metav1.NewTime(youngest.Add(time.Second))
				byKey[key(pb)] = pb
			}
			out = append(out, pb)
			fresh[key(pb)] = true
		}
	}
	return out, byKey, fresh
}

func key(pb *v1alpha1.PersonaBinding) string { return persona.KeyOf(pb) }

// planPersona runs the controller's decision for one persona.
func planPersona(id string, merged []*v1alpha1.PersonaBinding, proposed map[string]*v1alpha1.PersonaBinding, fresh map[string]bool, in Input) PersonaReport {
	// The same assembly as the controller's: the persona's bindings, and the
	// rivals of the numbers they list (and, after a read, of the numbers it
	// shows attached, below).
	snap := persona.Assemble(id, merged, in.DefaultDetachLimit)
	snap.Recall(snap.Requested())
	bindings := snap.Bindings
	listing := byNumber(merged)
	_ = snap.AddRivals(snap.Listed(), listing)
	// The controller adds, after its read, the rivals of every number the
	// persona shows attached: from the read with --refresh, else from the
	// records, which a read finds unchanged when nothing drifted.
	attached := slices.Sorted(maps.Keys(persona.FromRecords(bindings, "").Numbers))
	if seen, ok := in.Observed[id]; ok {
		attached = slices.Sorted(maps.Keys(seen))
	}
	_ = snap.AddRivals(attached, listing)
	rivals := snap.Rivals
	pr := PersonaReport{ID: id, Source: "records", RecordedAt: recordedAt(bindings)}
	if agent, env, ok := persona.ParseAgentTarget(id); ok {
		pr.Agent, pr.Environment = agent, string(env)
	}
	obs := persona.FromRecords(bindings, "")
	if seen, ok := in.Observed[id]; ok {
		obs = persona.Observation{Numbers: seen, Fresh: true}
		pr.Source = "bland"
	}
	if in.NotFound[id] {
		pr.Source = "bland"
		for i := range bindings {
			bindings[i].Failure = persona.Fail(v1alpha1.ReasonPersonaNotFound, "the persona does not exist or the API key may not see it")
		}
	}
	owners, plan := persona.Decide(bindings, rivals, obs)
	pr.NeedsRead = plan.NeedsRead
	if plan.NeedsRead && !obs.Fresh && !in.NotFound[id] {
		// The operator reads the persona before this plan (a handover, a
		// sweep): planned as if the read showed what the records hold,
		// which it does when nothing drifted. That read is what lets an
		// exclusive binding sweep a number a deleted Orphan binding left.
		obs.Fresh = true
		owners, plan = persona.Decide(bindings, rivals, obs)
	}
	after := applied(obs, plan)
	plan = expectRefusals(bindings, plan, after)
	pr.Calls = calls(plan, bindings)
	for i := range bindings {
		b := &bindings[i]
		br := report(b, owners, plan, obs, after)
		br.Proposed = proposed[b.Key()] != nil
		br.New = fresh[b.Key()]
		if live := liveCopy(in.Live, b.Key()); br.Proposed && live != nil {
			br.Spec = specChanges(live, b.Object)
			br.Deleted = live.DeletionTimestamp.IsZero() && !b.Object.DeletionTimestamp.IsZero()
			br.Changes = br.Changes || len(br.Spec) > 0 || br.Deleted
		}
		pr.Bindings = append(pr.Bindings, br)
	}
	return pr
}

// byNumber is a listing of the bindings by the numbers they list, as the
// controller's index answers it.
func byNumber(merged []*v1alpha1.PersonaBinding) func(string) ([]persona.PB, error) {
	index := map[string][]persona.PB{}
	for _, pb := range merged {
		for _, n := range pb.Spec.InboundNumbers {
			index[n] = append(index[n], pb)
		}
	}
	return func(n string) ([]persona.PB, error) { return index[n], nil }
}

// recordedAt is the latest status change among the bindings.
func recordedAt(bindings []persona.Binding) *time.Time {
	var at *time.Time
	for i := range bindings {
		if c := meta.FindStatusCondition(bindings[i].Object.Status.Conditions, v1alpha1.ConditionReady); c != nil {
			if t := c.LastTransitionTime.Time; at == nil || t.After(*at) {
				at = &t
			}
		}
	}
	return at
}

// calls counts the Bland writes of a plan, as the controller groups them
// (bindings of one persona normally share a key): numbers Bland refused
// before are attached in calls of their own.
func calls(p persona.Plan, bindings []persona.Binding) int {
	fresh, retried := persona.SplitRetries(p.Attach, bindings)
	n := len(p.Settings)
	for _, moves := range [][]persona.Move{p.Detach, fresh, retried} {
		n += (len(moves) + batchSize - 1) / batchSize
	}
	return n
}

// batchSize is the controller's default batch of numbers in one call.
const batchSize = 100

// expectRefusals takes Bland's last refusal of a number the plan attaches
// again as what it will say again (a number outside the account stays
// outside it): the number is refused, its binding's status says so, and
// its settings are not applied (the operator sets only what is attached).
// The plan is then wrong only where the account changed since.
func expectRefusals(bindings []persona.Binding, p persona.Plan, after persona.Observation) persona.Plan {
	before := persona.RefusedBefore(bindings)
	_, retried := persona.SplitRetries(p.Attach, bindings)
	refused := map[string]bool{}
	for _, m := range retried {
		refused[m.Number] = true
		for i := range bindings {
			if b := &bindings[i]; b.Key() == m.Binding {
				if b.Refused == nil {
					b.Refused = map[string]persona.Refusal{}
				}
				b.Refused[m.Number] = before[m.Number]
				delete(after.Numbers, m.Number)
			}
		}
	}
	p.Settings = slices.DeleteFunc(slices.Clone(p.Settings), func(c persona.SettingsChange) bool { return refused[c.Number] })
	return p
}

// applied is the observation once the plan's calls succeeded.
func applied(obs persona.Observation, p persona.Plan) persona.Observation {
	after := obs.Clone()
	after.Fresh = true
	for _, m := range p.Detach {
		delete(after.Numbers, m.Number)
	}
	for _, m := range p.Attach {
		after.Numbers[m.Number] = nil
	}
	for _, s := range p.Settings {
		after.Numbers[s.Number] = s.Settings
	}
	return after
}

// report builds one binding's part of the preview.
func report(b *persona.Binding, owners persona.Owners, p persona.Plan, before, after persona.Observation) BindingReport {
	k := b.Key()
	kind, _ := persona.SplitKey(k)
	br := BindingReport{Kind: kind, Namespace: b.Object.Namespace, Name: b.Object.Name, Generation: b.Object.Generation, Conflicts: owners.Conflicts[k]}
	for _, m := range p.Attach {
		if m.Binding == k {
			br.Attach = append(br.Attach, m.Number)
		}
	}
	for _, m := range p.Detach {
		if m.Binding == k {
			br.Detach = append(br.Detach, m.Number)
		}
	}
	for _, s := range p.Settings {
		if s.Binding == k {
			br.Settings = append(br.Settings, SettingsChange{Number: s.Number, From: before.Numbers[s.Number], To: s.Settings})
		}
	}
	for _, h := range p.Handovers {
		if h.From == k {
			br.HandoverOut = append(br.HandoverOut, Handover{Number: h.Number, Binding: h.To})
		}
		if h.To == k {
			br.HandoverIn = append(br.HandoverIn, Handover{Number: h.Number, Binding: h.From})
		}
	}
	br.MovedOut = movedAcrossKinds(b, owners, p)
	if pending := p.PendingDetach[k]; len(pending) > 0 {
		br.PendingAfter = pending
		br.Guard = &Guard{Limit: p.Limits[k], Numbers: pending,
			Approval: "kubectl annotate " + shortName(b.Object) + " -n " + b.Object.Namespace + " " + b.Object.Name + " " + v1alpha1.ApproveDetachAnnotation + "=" + persona.ApprovalFor(b.Object.Generation, pending) + " --overwrite"}
	}
	st := persona.Status(b, owners, p, after, persona.RecordAfter(b, p, after))
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
		br.Ready = Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
	}
	br.Stalls = meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionStalled)
	cur := meta.FindStatusCondition(b.Object.Status.Conditions, v1alpha1.ConditionReady)
	br.Changes = len(br.Attach)+len(br.Detach)+len(br.Settings)+len(br.HandoverIn)+len(br.HandoverOut)+len(br.MovedOut) > 0 ||
		cur == nil || cur.Reason != br.Ready.Reason || string(cur.Status) != br.Ready.Status
	return br
}

// movedAcrossKinds are the numbers b holds and no longer lists that a
// binding of the other kind claims and can take: the controller leaves them
// for that binding's attach (on its own target) instead of detaching them.
func movedAcrossKinds(b *persona.Binding, owners persona.Owners, p persona.Plan) []Handover {
	listed := map[string]bool{}
	for _, n := range b.Object.Spec.InboundNumbers {
		listed[n] = true
	}
	if !b.Object.DeletionTimestamp.IsZero() {
		clear(listed)
	}
	detached := map[string]bool{}
	for _, m := range p.Detach {
		detached[m.Number] = true
	}
	var out []Handover
	for _, n := range persona.Held(b.Object) {
		c := owners.Claimant[n]
		if !listed[n] && !detached[n] && persona.HandedAcrossKinds(b, c, n) {
			out = append(out, Handover{Number: n, Binding: persona.KeyOf(c)})
		}
	}
	return out
}

// shortName is the kubectl short name of the binding's kind.
func shortName(pb *v1alpha1.PersonaBinding) string {
	if persona.IsAgentView(pb) {
		return "ab"
	}
	return "pb"
}

// Exit statuses of a plan, as the plugin returns them.
const (
	ExitNoChange = 0
	ExitRejected = 2
	ExitChanges  = 3
	ExitStalls   = 4
)

// ExitCode is 2 when an input was refused; else 0 when nothing would
// change, 4 when something would and a binding of the input, or one whose
// outcome the input changes, would stall (a detach limit, a conflict), and
// 3 otherwise. Bindings stalled the same without the input never set it.
func (r Report) ExitCode() int {
	switch {
	case len(r.Errors) > 0:
		return ExitRejected
	case r.Summary.Changed == 0:
		return ExitNoChange
	case r.Summary.Stalls > 0:
		return ExitStalls
	}
	return ExitChanges
}
