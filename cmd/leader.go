package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// defaultLeaseName is the leader election Lease of the manager unless
// --leader-election-id names another (two releases in one namespace).
const defaultLeaseName = "bland-operator.personas.bland-operator.dev"

// leaderLock builds the Lease lock with a chosen holder identity (for
// example the Pod's name), so that a person or a test can tell from the
// Lease which replica leads. Without one, the manager keeps controller-
// runtime's default: the hostname and a random suffix.
func leaderLock(cfg *rest.Config, namespace, leaseName, identity string, renewDeadline time.Duration) (resourcelock.Interface, error) {
	if namespace == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, fmt.Errorf("--leader-election-identity needs --leader-election-namespace outside a cluster: %w", err)
		}
		namespace = strings.TrimSpace(string(b))
	}
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// One hung request must not cost the leader its Lease.
	cfg.Timeout = max(renewDeadline/2, time.Second)
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	coordination, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return resourcelock.New(resourcelock.LeasesResourceLock, namespace, leaseName, core, coordination,
		resourcelock.ResourceLockConfig{Identity: identity})
}
