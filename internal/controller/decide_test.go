package controller

import (
	"testing"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	synced := v1alpha1.ReasonSynced
	tests := []struct {
		name string
		in   facts
		want decision
	}{
		{"a binding in sync with nothing due costs nothing", facts{lastReason: synced}, decision{}},
		{"a due resync reads the persona", facts{lastReason: synced, resyncDue: true}, decision{sync: true, readFirst: true}},
		{"a spec change after a sync plans from the record", facts{lastReason: synced, specChanged: true}, decision{sync: true}},
		{"a new binding plans from its empty record", facts{specChanged: true}, decision{sync: true}},
		{"a new exclusive binding reads first: a sweep must see the persona", facts{specChanged: true, exclusive: true}, decision{sync: true, readFirst: true}},
		{"an exclusive binding's spec change reads first", facts{lastReason: synced, specChanged: true, exclusive: true}, decision{sync: true, readFirst: true}},
		{"a requested reconcile reads", facts{lastReason: synced, requested: true}, decision{sync: true, readFirst: true}},
		{"another binding's change to the persona is read", facts{lastReason: synced, personaChanged: true}, decision{sync: true, readFirst: true}},
		{"a change of conflicts re-plans after a read", facts{lastReason: v1alpha1.ReasonNumberConflict, conflictsChanged: true}, decision{sync: true, readFirst: true}},
		{"a spec change after a conflict plans from the record", facts{lastReason: v1alpha1.ReasonNumberConflict, specChanged: true}, decision{sync: true}},
		{"a spec change after a failure reads first", facts{lastReason: v1alpha1.ReasonAPIError, specChanged: true}, decision{sync: true, readFirst: true}},
		{"a sync in progress (intent written) goes on and reads first", facts{lastReason: v1alpha1.ReasonProgressing}, decision{sync: true, readFirst: true}},
		{"a rate-limited binding retries with a read", facts{lastReason: v1alpha1.ReasonRateLimited}, decision{sync: true, readFirst: true}},
		{"a stalled binding waits for its resync", facts{lastReason: v1alpha1.ReasonUnauthorized}, decision{}},
		{"a rejected request waits for its resync", facts{lastReason: v1alpha1.ReasonRequestRejected}, decision{}},
		{"a missing Secret waits for its retry", facts{lastReason: v1alpha1.ReasonCredentialsNotFound}, decision{}},
		{"a missing Secret retries when due", facts{lastReason: v1alpha1.ReasonCredentialsNotFound, resyncDue: true}, decision{sync: true, readFirst: true}},
		{"a suspended binding always reads", facts{lastReason: v1alpha1.ReasonSuspended, specChanged: true, suspend: true}, decision{sync: true, readFirst: true}},
		{"a suspended binding in sync waits", facts{lastReason: v1alpha1.ReasonSuspended, suspend: true}, decision{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.in); got != tt.want {
				t.Errorf("decide(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
