package preview

import (
	"fmt"
	"strconv"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// FieldChange is a spec field a binding of the input changes that no
// attach, detach or settings mark shows: how it is deleted, resynced,
// suspended, limited or swept, and where its key comes from.
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// specChanges lists the fields of the spec that differ between the live
// binding and the proposed one, beside the numbers and their settings.
func specChanges(live, proposed *v1alpha1.PersonaBinding) []FieldChange {
	a, b := live.Spec, proposed.Spec
	var out []FieldChange
	add := func(field, from, to string) {
		if from != to {
			out = append(out, FieldChange{Field: "spec." + field, From: from, To: to})
		}
	}
	add("personaID", a.PersonaID, b.PersonaID)
	add("suspend", strconv.FormatBool(a.Suspend), strconv.FormatBool(b.Suspend))
	add("deletionPolicy", orDefault(string(a.DeletionPolicy), string(v1alpha1.DeletionPolicyDetach)), orDefault(string(b.DeletionPolicy), string(v1alpha1.DeletionPolicyDetach)))
	add("exclusive", strconv.FormatBool(a.Exclusive), strconv.FormatBool(b.Exclusive))
	add("resyncInterval", duration(a), duration(b))
	add("detachLimit", limitOf(a.DetachLimit), limitOf(b.DetachLimit))
	add("credentialsRef", secretRef(a.CredentialsRef), secretRef(b.CredentialsRef))
	add("accountRef", accountRef(a.AccountRef), accountRef(b.AccountRef))
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func duration(s v1alpha1.PersonaBindingSpec) string {
	if s.ResyncInterval == nil {
		return "(default)"
	}
	return s.ResyncInterval.Duration.String()
}

func limitOf(l *int32) string {
	if l == nil {
		return "(default)"
	}
	return strconv.Itoa(int(*l))
}

func secretRef(r *v1alpha1.SecretKeyRef) string {
	if r == nil {
		return "(none)"
	}
	return fmt.Sprintf("%s/%s", r.Name, orDefault(r.Key, "apiKey"))
}

func accountRef(r *v1alpha1.AccountRef) string {
	if r == nil {
		return "(none)"
	}
	return r.Name
}
