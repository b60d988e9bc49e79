package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
)

// selfTest is what `helm test` runs in a Pod of the manager's image, as a
// ServiceAccount that may only read the Lease and list bindings: the
// cluster serves the PersonaBinding API, and a replica leads, having
// renewed the Lease within its duration (when leader election is on). It
// returns what it saw.
func selfTest(ctx context.Context, cfg *rest.Config, namespace, lease string, elect bool, leaseDuration time.Duration, now time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	bindings := schema.GroupVersionResource{Group: "personas.bland-operator.dev", Version: "v1alpha1", Resource: "personabindings"}
	if _, err := dyn.Resource(bindings).Namespace(namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return "", fmt.Errorf("listing PersonaBindings (are the CRDs installed?): %w", err)
	}
	if !elect {
		return "PersonaBindings are served (leader election is off: no Lease to check)", nil
	}
	coordination, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	l, err := coordination.Leases(namespace).Get(ctx, lease, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the leader election Lease %s/%s (is a manager running?): %w", namespace, lease, err)
	}
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if holder == "" || l.Spec.RenewTime == nil {
		return "", fmt.Errorf("no replica leads: the Lease %s/%s has no holder", namespace, lease)
	}
	age := now.Sub(l.Spec.RenewTime.Time).Round(time.Second)
	if age > leaseDuration {
		return "", fmt.Errorf("the leader %s last renewed the Lease %s ago, longer than its %s duration: it is stuck or gone", holder, age, leaseDuration)
	}
	return fmt.Sprintf("PersonaBindings are served; %s leads (renewed the Lease %s ago)", holder, age), nil
}
