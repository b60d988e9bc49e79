package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespacedSecretKeyRef names a key of a Secret in a given namespace.
type NamespacedSecretKeyRef struct {
	// namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data that holds the API key.
	// +optional
	// +kubebuilder:default=apiKey
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// ClusterBlandAccountSpec says where the account's API key is and which
// namespaces may use it.
type ClusterBlandAccountSpec struct {
	// secretRef names the Secret holding the Bland API key. Tenants never read
	// it: the operator reads it for their bindings.
	// +required
	SecretRef NamespacedSecretKeyRef `json:"secretRef"`

	// namespaceSelector chooses the namespaces whose PersonaBindings may use
	// this account. An empty selector admits every namespace.
	// +required
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// rateLimit is how fast the operator may call Bland with this account's
	// key. Without it the manager's --api-qps and --api-burst apply. Each
	// account has its own bucket: one account's calls or 429s never slow
	// another's.
	// +optional
	RateLimit *AccountRateLimit `json:"rateLimit,omitempty"`
}

// AccountRateLimit is a token bucket: qps calls a second on average, at
// most burst at once. Whole calls a second, as Bland states its own limits.
type AccountRateLimit struct {
	// qps is the average rate, in calls a second.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	QPS int32 `json:"qps"`

	// burst is how many calls may leave at once after a quiet spell. It
	// defaults to twice qps.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Burst int32 `json:"burst,omitempty"`
}

// ClusterBlandAccountStatus is what the operator observed.
type ClusterBlandAccountStatus struct {
	// observedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready says whether the Secret and its key are present.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// bindings is how many PersonaBindings name this account.
	// +optional
	Bindings int32 `json:"bindings"`

	// pace is the rate the operator calls Bland at with this account's key
	// now, in calls a second: spec.rateLimit.qps (or --api-qps) at full
	// speed, lower while Bland's 429s slow it. Each account has its own.
	// Empty until the key is used.
	// +optional
	Pace string `json:"pace,omitempty"`

	// throttled says the account's pace is below its rate, or Bland asked
	// it to wait (Retry-After): its calls, and no other account's, are slowed.
	// +optional
	Throttled bool `json:"throttled,omitempty"`
}

// ClusterBlandAccount holds one Bland API key for PersonaBindings in the
// namespaces it selects, so tenants bind numbers without holding the key.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cba,categories=bland
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Bindings",type=integer,JSONPath=`.status.bindings`
// +kubebuilder:printcolumn:name="Pace",type=string,JSONPath=`.status.pace`
// +kubebuilder:printcolumn:name="Throttled",type=boolean,JSONPath=`.status.throttled`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterBlandAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the key and the namespaces that may use it.
	// +required
	Spec ClusterBlandAccountSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status ClusterBlandAccountStatus `json:"status,omitempty"`
}

// ClusterBlandAccountList is a list of ClusterBlandAccounts.
//
// +kubebuilder:object:root=true
type ClusterBlandAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterBlandAccount `json:"items"`
}
