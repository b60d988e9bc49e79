package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultResyncInterval is spec.resyncInterval when a manifest leaves it out.
const DefaultResyncInterval = 10 * time.Minute

// WithDefaults returns the spec as the API server stores it: the schema's
// defaults (the +kubebuilder:default markers above) filled in where the
// manifest leaves them out. A client that compares a manifest with a live
// object uses it to tell an unchanged manifest from an edit without asking
// the API server; a test holds it against the API server's own defaulting.
func (s PersonaBindingSpec) WithDefaults() PersonaBindingSpec {
	out := *s.DeepCopy()
	if out.DeletionPolicy == "" {
		out.DeletionPolicy = DeletionPolicyDetach
	}
	if out.ResyncInterval == nil {
		out.ResyncInterval = &metav1.Duration{Duration: DefaultResyncInterval}
	}
	if out.CredentialsRef != nil && out.CredentialsRef.Key == "" {
		out.CredentialsRef.Key = "apiKey"
	}
	return out
}
