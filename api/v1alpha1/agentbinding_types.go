package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentEnvironment is where an agent's number answers.
// +kubebuilder:validation:Enum=production;staging
type AgentEnvironment string

const (
	// EnvironmentProduction answers with the agent's promoted production
	// version (or, until one is promoted, the newest saved version at the
	// time of the attach).
	EnvironmentProduction AgentEnvironment = "production"
	// EnvironmentStaging answers with what is published to the agent's
	// staging environment (an enterprise feature of Bland).
	EnvironmentStaging AgentEnvironment = "staging"
)

// AgentBindingSpec is the set of inbound numbers routed to one Bland agent,
// through Bland's v2 Agents API.
// +kubebuilder:validation:XValidation:rule="has(self.credentialsRef) != has(self.accountRef)",message="set exactly one of spec.credentialsRef and spec.accountRef"
type AgentBindingSpec struct {
	// agentID is the Bland agent the numbers are routed to. It cannot be
	// changed: to move numbers to another agent, create a new binding.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="agentID is immutable; create a new AgentBinding for another agent"
	AgentID string `json:"agentID"`

	// environment is where every listed number answers: production (the
	// default) or staging. A staging refusal never falls back to production.
	// +optional
	// +kubebuilder:default=production
	Environment AgentEnvironment `json:"environment,omitempty"`

	// inboundNumbers are the phone numbers, in E.164 form (+14155551234),
	// routed to the agent. An empty list detaches everything this binding
	// attached.
	// +required
	// +listType=set
	// +kubebuilder:validation:MaxItems=500
	// +kubebuilder:validation:items:Pattern=`^\+[1-9][0-9]{1,14}$`
	// +kubebuilder:validation:items:MaxLength=16
	InboundNumbers []string `json:"inboundNumbers"`

	// credentialsRef names the Secret, in the binding's namespace, that holds
	// the Bland API key. Exactly one of credentialsRef and accountRef is set.
	// +optional
	CredentialsRef *SecretKeyRef `json:"credentialsRef,omitempty"`

	// accountRef names a ClusterBlandAccount whose API key the binding uses.
	// Exactly one of credentialsRef and accountRef is set.
	// +optional
	AccountRef *AccountRef `json:"accountRef,omitempty"`

	// exclusive, when true, also detaches numbers on the agent (in this
	// binding's environment) that no binding lists.
	// +optional
	// +kubebuilder:default=false
	Exclusive bool `json:"exclusive,omitempty"`

	// deletionPolicy says what deleting this binding does: Detach (the
	// default) detaches the numbers it attached, Orphan leaves them routed.
	// +optional
	// +kubebuilder:default=Detach
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// suspend, when true, makes the operator observe and report the plan
	// without changing anything in Bland.
	// +optional
	// +kubebuilder:default=false
	Suspend bool `json:"suspend,omitempty"`

	// resyncInterval is how often the agent's numbers are read again to
	// catch changes made outside this operator. At least 30s.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s')",message="resyncInterval must be at least 30s"
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`

	// detachLimit is the most numbers one reconcile may detach from the agent
	// without a person's approval, as for a PersonaBinding. Unset means the
	// manager's --default-detach-limit; 0 means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DetachLimit *int32 `json:"detachLimit,omitempty"`
}

// AgentBindingStatus is what the operator last observed and did: the same
// fields as a PersonaBinding's, and the agent's routing persona.
type AgentBindingStatus struct {
	PersonaBindingStatus `json:",inline"`

	// personaID is the persona Bland routes the agent's numbers through: it
	// creates one on the agent's first attach and keeps it. Empty until then.
	// +optional
	PersonaID string `json:"personaID,omitempty"`

	// compiledFromVersion is the agent version the last attach compiled.
	// Until a production version is promoted, numbers run the newest version
	// saved when they were attached: request a reconcile to attach again.
	// +optional
	CompiledFromVersion string `json:"compiledFromVersion,omitempty"`
}

// AgentBinding keeps the inbound numbers routed to one Bland agent as its
// spec says.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ab,categories=bland
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.spec.agentID`
// +kubebuilder:printcolumn:name="Env",type=string,JSONPath=`.spec.environment`
// +kubebuilder:printcolumn:name="Numbers",type=string,JSONPath=`.status.summary`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AgentBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec lists the numbers routed to the agent.
	// +required
	Spec AgentBindingSpec `json:"spec"`

	// status is what the operator observed and did.
	// +optional
	// +kubebuilder:default={observedGeneration:-1}
	Status AgentBindingStatus `json:"status,omitempty"`
}

// AgentBindingList is a list of AgentBindings.
//
// +kubebuilder:object:root=true
type AgentBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentBinding `json:"items"`
}
