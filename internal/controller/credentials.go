package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// errCredentials says the Secret or its key is missing; the message names
// them and never the value.
type errCredentials struct{ msg string }

func (e *errCredentials) Error() string { return e.msg }

// readAPIKey reads the API key from the binding's Secret, uncached.
func (r *PersonaBindingReconciler) readAPIKey(ctx context.Context, pb *v1alpha1.PersonaBinding) (string, error) {
	ref := pb.Spec.CredentialsRef
	key := ref.Key
	if key == "" {
		key = "apiKey"
	}
	var secret corev1.Secret
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pb.Namespace, Name: ref.Name}, &secret)
	switch {
	case apierrors.IsNotFound(err):
		return "", &errCredentials{fmt.Sprintf("Secret %q not found in namespace %q", ref.Name, pb.Namespace)}
	case err != nil:
		return "", fmt.Errorf("reading Secret %q: %w", ref.Name, err)
	}
	value := string(secret.Data[key])
	if value == "" {
		return "", &errCredentials{fmt.Sprintf("Secret %q has no key %q (credentialsRef.key)", ref.Name, key)}
	}
	r.lastKeys.Store(keyOf(pb), value)
	return value, nil
}

// keyForTeardown returns the key to detach with when the binding's namespace
// is being deleted and its Secret is already gone: the key this process last
// read for the binding, if any. ok is false when the namespace is not being
// deleted (the usual rules apply: the finalizer waits for the Secret).
func (r *PersonaBindingReconciler) keyForTeardown(ctx context.Context, pb *v1alpha1.PersonaBinding) (key string, known, ok bool, err error) {
	var ns corev1.Namespace
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: pb.Namespace}, &ns); err != nil {
		return "", false, false, client.IgnoreNotFound(err)
	}
	if ns.DeletionTimestamp.IsZero() {
		return "", false, false, nil
	}
	if v, found := r.lastKeys.Load(keyOf(pb)); found {
		return v.(string), true, true, nil
	}
	return "", false, true, nil
}
