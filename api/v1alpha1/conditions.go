package v1alpha1

// Condition types, in the kstatus and Flux conventions.
const (
	// ConditionReady is always present: True when the persona matches the spec.
	ConditionReady = "Ready"
	// ConditionReconciling is present only while work is in flight or being retried.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is present only while the binding cannot progress without
	// a change from a person (spec, Secret, account).
	ConditionStalled = "Stalled"
)

// Condition reasons.
const (
	ReasonSynced              = "Synced"
	ReasonProgressing         = "Progressing"
	ReasonAPIError            = "APIError"
	ReasonRateLimited         = "RateLimited"
	ReasonCredentialsNotFound = "CredentialsNotFound"
	ReasonUnauthorized        = "Unauthorized"
	ReasonPersonaNotFound     = "PersonaNotFound"
	ReasonNumberNotOwned      = "NumberNotOwned"
	ReasonNumberConflict      = "NumberConflict"
	// ReasonRequestRejected: Bland refused a request as invalid (a 4xx other
	// than 401, 403, 404 and 429); retrying the same request cannot help.
	ReasonRequestRejected = "RequestRejected"
	// ReasonDetachLimitExceeded: the reconcile would detach more numbers than
	// the detach limit allows; a person approves with ApproveDetachAnnotation.
	ReasonDetachLimitExceeded = "DetachLimitExceeded"
	// ReasonAccountNotPermitted: the ClusterBlandAccount's namespaceSelector
	// does not admit the binding's namespace.
	ReasonAccountNotPermitted = "AccountNotPermitted"
	// ReasonAccountInUse: a ClusterBlandAccount being deleted still has
	// bindings that use it.
	ReasonAccountInUse = "InUse"
	// ReasonSecretReady: the account's Secret and key are present.
	ReasonSecretReady = "SecretFound"
	// ReasonAgentNotFound: Bland has no agent of the AgentBinding's agentID
	// that its key may see.
	ReasonAgentNotFound = "AgentNotFound"
	// ReasonAgentRefused: Bland refused to route numbers to the agent for a
	// reason of the agent's (no saved version, a failed compile, staging not
	// available); the message names Bland's code and what to do.
	ReasonAgentRefused = "AgentRefused"
	ReasonSuspended    = "Suspended"
	ReasonDeleting     = "Deleting"
)

const (
	// Finalizer holds a Detach binding until its numbers are detached.
	Finalizer = "personas.bland-operator.dev/detach"
	// ReconcileRequestedAtAnnotation asks for a resync when its value changes.
	ReconcileRequestedAtAnnotation = "personas.bland-operator.dev/reconcile-requested-at"
	// ApproveDetachAnnotation approves the detaches past the detach limit of
	// exactly one generation's spec and one set of numbers:
	// "<generation>:<digest>", the digest being the first twelve hex digits
	// of the SHA-256 of the sorted numbers, one per line (the operator's
	// status message and kubectl bland approve write it). A generation alone
	// is accepted for one more release, with a warning.
	ApproveDetachAnnotation = "personas.bland-operator.dev/approve-detach"
	// IntentAnnotation is written by the operator, with the finalizer, before
	// it calls Bland: "<sequence>:<number>,<number>" names the numbers the
	// calls may attach or detach for the binding. It is settled once
	// status.observedIntent carries the same sequence; until then those
	// numbers count as possibly held, and the persona is read before the
	// binding's record is trusted. Not for people to set.
	IntentAnnotation = "personas.bland-operator.dev/intent"
	// AccountFinalizer holds a ClusterBlandAccount while bindings use it.
	AccountFinalizer = "personas.bland-operator.dev/in-use"
)
