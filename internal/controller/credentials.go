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
	return value, nil
}
