package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what deleting a PersonaBinding does to the numbers it attached.
// +kubebuilder:validation:Enum=Detach;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDetach detaches every number the binding attached before the
	// binding goes away.
	DeletionPolicyDetach DeletionPolicy = "Detach"
	// DeletionPolicyOrphan leaves the numbers attached and makes no call to Bland.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// PersonaBindingSpec is the set of inbound numbers wanted on one Bland persona.
// +kubebuilder:validation:XValidation:rule="!has(self.numberSettings) || self.numberSettings.all(s, s.number in self.inboundNumbers)",message="every numberSettings[].number must also be listed in spec.inboundNumbers"
// +kubebuilder:validation:XValidation:rule="has(self.credentialsRef) != has(self.accountRef)",message="set exactly one of spec.credentialsRef and spec.accountRef"
type PersonaBindingSpec struct {
	// personaID is the Bland persona the numbers are attached to. It cannot be
	// changed: to move numbers to another persona, create a new binding.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="personaID is immutable; create a new PersonaBinding for another persona"
	PersonaID string `json:"personaID"`

	// inboundNumbers are the phone numbers, in E.164 form (+14155551234), that
	// must be attached to the persona. An empty list detaches everything this
	// binding attached.
	// +required
	// +listType=set
	// +kubebuilder:validation:MaxItems=500
	// +kubebuilder:validation:items:Pattern=`^\+[1-9][0-9]{1,14}$`
	// +kubebuilder:validation:items:MaxLength=16
	InboundNumbers []string `json:"inboundNumbers"`

	// credentialsRef names the Secret, in the binding's namespace, that holds the
	// Bland API key. Exactly one of credentialsRef and accountRef is set.
	// +optional
	CredentialsRef *SecretKeyRef `json:"credentialsRef,omitempty"`

	// accountRef names a ClusterBlandAccount whose API key the binding uses,
	// when the account's namespaceSelector admits the binding's namespace.
	// Exactly one of credentialsRef and accountRef is set.
	// +optional
	AccountRef *AccountRef `json:"accountRef,omitempty"`

	// numberSettings are per-number pathway overrides. Each number must also be
	// listed in inboundNumbers. Removing an entry clears the override this binding
	// set; overrides set by anyone else are left alone.
	// +optional
	// +listType=map
	// +listMapKey=number
	// +kubebuilder:validation:MaxItems=500
	NumberSettings []NumberSettings `json:"numberSettings,omitempty"`

	// exclusive, when true, also detaches numbers attached to the persona that no
	// PersonaBinding lists.
	// +optional
	// +kubebuilder:default=false
	Exclusive bool `json:"exclusive,omitempty"`

	// deletionPolicy says what deleting this binding does: Detach (the default)
	// detaches the numbers it attached, Orphan leaves them attached.
	// +optional
	// +kubebuilder:default=Detach
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// suspend, when true, makes the operator observe and report the plan without
	// changing anything in Bland.
	// +optional
	// +kubebuilder:default=false
	Suspend bool `json:"suspend,omitempty"`

	// resyncInterval is how often the persona is read again to catch changes made
	// outside this operator. At least 30s.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s')",message="resyncInterval must be at least 30s"
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`

	// detachLimit is the most numbers one reconcile may detach from the persona
	// (spec drops and exclusive sweeps together) without a person's approval.
	// Unset means the manager's --default-detach-limit; 0 means no limit.
	// Deleting the binding is governed by deletionPolicy, not by this limit.
	// Approve a larger detach with the annotation
	// personas.bland-operator.dev/approve-detach, naming the binding's
	// metadata.generation and the numbers (the Ready message and kubectl
	// bland approve give the value).
	// +optional
	// +kubebuilder:validation:Minimum=0
	DetachLimit *int32 `json:"detachLimit,omitempty"`
}

// SecretKeyRef points at one key of a Secret in the binding's own namespace.
type SecretKeyRef struct {
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

// AccountRef names a ClusterBlandAccount.
type AccountRef struct {
	// name of the ClusterBlandAccount.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// NumberSettings overrides the pathway one inbound number starts in.
type NumberSettings struct {
	// number is the inbound number, in E.164 form, the override applies to.
	// +required
	// +kubebuilder:validation:Pattern=`^\+[1-9][0-9]{1,14}$`
	// +kubebuilder:validation:MaxLength=16
	Number string `json:"number"`

	// PathwaySettings are the override values.
	PathwaySettings `json:",inline"`
}

// PathwaySettings are the per-number persona settings Bland keeps.
type PathwaySettings struct {
	// pathwayID is the conversational pathway the number uses.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	PathwayID string `json:"pathwayID,omitempty"`

	// pathwayVersion pins a version of the pathway; unset means the latest.
	// +optional
	// +kubebuilder:validation:Minimum=1
	PathwayVersion *int64 `json:"pathwayVersion,omitempty"`

	// startNodeID is the node of the pathway a call starts at.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	StartNodeID string `json:"startNodeID,omitempty"`
}

// NumberState is where one number stands.
type NumberState string

const (
	// NumberAttached means the number is attached to the persona, with its settings.
	NumberAttached NumberState = "Attached"
	// NumberPending means the number is wanted but not attached yet (or suspended).
	NumberPending NumberState = "Pending"
	// NumberConflict means an older binding lists the number; this one leaves it alone.
	NumberConflict NumberState = "Conflict"
	// NumberNotOwned means Bland says the number is not in the account.
	NumberNotOwned NumberState = "NotOwned"
	// NumberRejected means Bland refused a request about the number for a
	// reason other than the account (its words are in the message).
	NumberRejected NumberState = "Rejected"
	// NumberError means the last call about this number failed.
	NumberError NumberState = "Error"
)

// NumberStatus says where one wanted or bound number stands, and why.
type NumberStatus struct {
	// number in E.164 form.
	Number string `json:"number"`

	// state of the number: Attached, Pending, Conflict, NotOwned, Rejected or Error.
	State NumberState `json:"state"`

	// message explains the state when it is not Attached.
	// +optional
	Message string `json:"message,omitempty"`

	// appliedSettings are the per-number settings this binding set and Bland
	// confirmed; absent when this binding set none.
	// +optional
	AppliedSettings *PathwaySettings `json:"appliedSettings,omitempty"`
}

// PersonaBindingStatus is what the operator last observed and did.
type PersonaBindingStatus struct {
	// observedGeneration is the metadata.generation this status describes; -1
	// until the operator has looked at the binding.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (always), Reconciling and Stalled (only while true).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// personaName is the display name of the persona in Bland.
	// +optional
	PersonaName string `json:"personaName,omitempty"`

	// boundNumbers are the numbers this binding attached and has not detached:
	// its record of ownership, which makes "dropped from the spec" computable.
	// +optional
	// +listType=set
	BoundNumbers []string `json:"boundNumbers,omitempty"`

	// pendingDetach are the numbers waiting for approval because detaching them
	// would exceed the detach limit.
	// +optional
	// +listType=set
	PendingDetach []string `json:"pendingDetach,omitempty"`

	// numbers lists every wanted or bound number with its state.
	// +optional
	// +listType=map
	// +listMapKey=number
	Numbers []NumberStatus `json:"numbers,omitempty"`

	// summary is attached/desired, for the Numbers printer column.
	// +optional
	Summary string `json:"summary,omitempty"`

	// lastHandledReconcileAt is the last value of the
	// personas.bland-operator.dev/reconcile-requested-at annotation that was handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// observedIntent is the sequence number of the last
	// personas.bland-operator.dev/intent annotation whose calls this status
	// accounts for. While the annotation carries another, the calls it names
	// may have landed without being recorded here.
	// +optional
	ObservedIntent int64 `json:"observedIntent,omitempty"`
}

// PersonaBinding keeps the inbound numbers of one Bland AI persona as its spec says.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pb,categories=bland
// +kubebuilder:printcolumn:name="Persona",type=string,JSONPath=`.status.personaName`
// +kubebuilder:printcolumn:name="Persona ID",type=string,JSONPath=`.spec.personaID`,priority=1
// +kubebuilder:printcolumn:name="Numbers",type=string,JSONPath=`.status.summary`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PersonaBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec lists the numbers wanted on the persona.
	// +required
	Spec PersonaBindingSpec `json:"spec"`

	// status is what the operator observed and did.
	// +optional
	// +kubebuilder:default={observedGeneration:-1}
	Status PersonaBindingStatus `json:"status,omitempty"`
}

// PersonaBindingList is a list of PersonaBindings.
//
// +kubebuilder:object:root=true
type PersonaBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PersonaBinding `json:"items"`
}
