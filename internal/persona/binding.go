// Package persona decides everything about one Bland persona: which binding
// owns each number, which calls to make, and what every binding's status
// says. It is pure: the persona's bindings and an observation of the persona
// go in, a plan and statuses come out. It imports no client; the controller
// does the reading, calling and patching around it.
package persona

import (
	"maps"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// Settings are one number's overrides, as the API spells them.
type Settings = v1alpha1.PathwaySettings

// Binding is one PersonaBinding as the reconcile of its persona sees it: the
// snapshot (never changed) and what this reconcile learned about it.
type Binding struct {
	// Object is the snapshot the reconcile plans from.
	Object *v1alpha1.PersonaBinding
	// DetachLimit is spec.detachLimit or the manager's default; 0: none.
	DetachLimit int
	// Failure, when set, is why the binding cannot be served now (its key,
	// its account, its persona, or the last call).
	Failure *Failure
	// Refused are numbers Bland refused to attach for it. They are not tried
	// again until the spec changes or a resync is due.
	Refused map[string]Refusal
	// KeyGroup tells bindings with the same API key apart from the others,
	// so that calls are grouped by key. "" when the key was not read.
	KeyGroup string
	// LetGo releases the binding's numbers without detaching them: its
	// namespace is being deleted and no key can detach them.
	LetGo bool
	// SeesOtherNamespaces lets its status and events name bindings of other
	// namespaces (a single-team cluster). Off, they say "a PersonaBinding in
	// another namespace": a tenant learns that a number is taken, not by
	// whom.
	SeesOtherNamespaces bool
}

// Key is the binding's namespace/name.
func (b *Binding) Key() string { return KeyOf(b.Object) }

func (b *Binding) live() bool      { return b.Object.DeletionTimestamp.IsZero() }
func (b *Binding) suspended() bool { return b.Object.Spec.Suspend }
func (b *Binding) orphan() bool {
	return b.Object.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan
}

// Blocked says the binding cannot hold numbers now: no usable key, an
// account that refuses its namespace, or a persona its key cannot see.
func (b *Binding) Blocked() bool { return b.Failure != nil && b.Failure.Blocks }

// Readiness is how a binding stands, in kstatus terms.
type Readiness int

// The states a binding can be in.
const (
	Ready            Readiness = iota // Ready=True
	Progressing                       // Reconciling=True: retrying on its own
	Stalled                           // Stalled=True: needs a person
	SuspendedInSync                   // suspended, and nothing would change
	SuspendedPending                  // suspended, with changes waiting
)

// Failure is what a failed read, call or key lookup means for a binding.
type Failure struct {
	State   Readiness
	Reason  string
	Message string
	// RetryAfter, when set, is exactly when to look again.
	RetryAfter time.Duration
	// Blocks: the binding cannot hold numbers until this is fixed.
	Blocks bool
}

// Observation is what is known of the persona: the numbers attached with
// their settings. Fresh means Bland said so in this reconcile (a read or a
// write's answer); otherwise it is rebuilt from the bindings' records.
type Observation struct {
	Name string
	// NamedFor are the key groups whose own call showed the persona (and
	// its name) in this reconcile: only their bindings show the name, so a
	// tenant never learns a persona's name through another tenant's key.
	NamedFor map[string]bool
	Numbers  map[string]*Settings
	Fresh    bool
	// Unsettled are numbers a call without an answer may still change: a
	// read showing them absent (or present) is not final until its grace ends.
	Unsettled map[string]bool
}

// Has reports whether n is attached.
func (o Observation) Has(n string) bool { _, ok := o.Numbers[n]; return ok }

// FromRecords rebuilds the observation from the records of the bindings:
// each recorded number attached, with the overrides its owner applied. A
// suspended binding makes no calls, so its record never gains a number; the
// numbers its status last saw attached count too, or a pass without a read
// would report them missing.
func FromRecords(bindings []Binding, name string) Observation {
	o := Observation{Name: name, Numbers: map[string]*Settings{}}
	for i := range bindings {
		pb := bindings[i].Object
		applied := AppliedSettings(&pb.Status)
		for _, n := range Held(pb) {
			o.Numbers[n] = applied[n]
		}
		if !pb.Spec.Suspend || !pb.DeletionTimestamp.IsZero() {
			continue
		}
		for _, ns := range pb.Status.Numbers {
			if _, seen := o.Numbers[ns.Number]; !seen && ns.State == v1alpha1.NumberAttached {
				o.Numbers[ns.Number] = ns.AppliedSettings
			}
		}
	}
	return o
}

// Clone returns a copy that later changes to o do not touch.
func (o Observation) Clone() Observation {
	c := o
	c.Numbers = maps.Clone(o.Numbers)
	if c.Numbers == nil {
		c.Numbers = map[string]*Settings{}
	}
	c.Unsettled = maps.Clone(o.Unsettled)
	c.NamedFor = maps.Clone(o.NamedFor)
	return c
}

// AppliedSettings returns the overrides a binding set, by number.
func AppliedSettings(st *v1alpha1.PersonaBindingStatus) map[string]*Settings {
	out := map[string]*Settings{}
	for _, n := range st.Numbers {
		if n.AppliedSettings != nil {
			out[n.Number] = n.AppliedSettings
		}
	}
	return out
}

// WantedSettings returns the overrides a spec asks for, by number.
func WantedSettings(spec *v1alpha1.PersonaBindingSpec) map[string]*Settings {
	out := map[string]*Settings{}
	for i := range spec.NumberSettings {
		s := spec.NumberSettings[i].PathwaySettings
		out[spec.NumberSettings[i].Number] = &s
	}
	return out
}

// Refusal is Bland's definite "no" to attaching one number.
type Refusal struct {
	// Message is Bland's own words.
	Message string
	// NotOwned: the words say the number is not the account's.
	NotOwned bool
}

// RefusedInStatus returns the numbers the status reports as refused by
// Bland at the binding's current generation.
func RefusedInStatus(pb *v1alpha1.PersonaBinding) map[string]Refusal {
	if pb.Status.ObservedGeneration != pb.Generation {
		return map[string]Refusal{}
	}
	return LastRefusals(pb)
}

// ReadyReason is the reason of the Ready condition, "" before the first status.
func ReadyReason(pb *v1alpha1.PersonaBinding) string {
	if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// OlderThan orders bindings by creation time, then namespace/name: the older
// binding keeps a contested number, so the outcome never flips back and forth.
func OlderThan(a, b *v1alpha1.PersonaBinding) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return KeyOf(a) < KeyOf(b)
}

// PB is the API object, for short.
type PB = *v1alpha1.PersonaBinding

// isEmpty reports whether settings override nothing.
func isEmpty(s *Settings) bool {
	return s == nil || (s.PathwayID == "" && s.PathwayVersion == nil && s.StartNodeID == "")
}

// equal reports whether two settings say the same thing.
func equal(a, b *Settings) bool {
	if isEmpty(a) || isEmpty(b) {
		return isEmpty(a) && isEmpty(b)
	}
	if a.PathwayID != b.PathwayID || a.StartNodeID != b.StartNodeID || (a.PathwayVersion == nil) != (b.PathwayVersion == nil) {
		return false
	}
	return a.PathwayVersion == nil || *a.PathwayVersion == *b.PathwayVersion
}

func refused(b *Binding, n string) bool { _, ok := b.Refused[n]; return ok }

func mapsKeys[V any](m map[string]V) func(func(string) bool) { return maps.Keys(m) }

// Describe names another binding (namespace/name) as b's status and events
// may: by name in b's own namespace, or when b may see other namespaces.
func (b *Binding) Describe(other string) string {
	kind, name := SplitKey(other)
	ns, _, _ := strings.Cut(name, "/")
	if b.SeesOtherNamespaces || ns == b.Object.Namespace {
		return kind + " " + name
	}
	if kind == KindAgentBinding {
		return "an AgentBinding in another namespace"
	}
	return "a PersonaBinding in another namespace"
}

// described maps each number to the binding it names, as b may name it.
func (b *Binding) described(numberTo map[string]string) map[string]string {
	out := make(map[string]string, len(numberTo))
	for n, other := range numberTo {
		out[n] = b.Describe(other)
	}
	return out
}
