package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// errCredentials says the Secret or its key is missing; the message names
// them and never the value.
type errCredentials struct{ msg string }

func (e *errCredentials) Error() string { return e.msg }

// errNotPermitted says the binding's ClusterBlandAccount does not admit its
// namespace.
type errNotPermitted struct{ msg string }

func (e *errNotPermitted) Error() string { return e.msg }

// readAPIKey reads the binding's API key, uncached, and the account it
// belongs to: from a Secret in its own namespace (an account named
// namespace/Secret, at the manager's rate), or through the
// ClusterBlandAccount it names (at that account's rate).
func (r *PersonaReconciler) readAPIKey(ctx context.Context, pb *v1alpha1.PersonaBinding) (string, bland.Account, error) {
	switch {
	case pb.Spec.AccountRef != nil:
		return r.readAccountKey(ctx, pb)
	case pb.Spec.CredentialsRef != nil:
		ref := pb.Spec.CredentialsRef
		key, err := readSecretKey(ctx, r.APIReader, pb.Namespace, ref.Name, ref.Key, "credentialsRef.key")
		return key, bland.Account{Name: pb.Namespace + "/" + ref.Name}, err
	}
	return "", bland.Account{}, &errCredentials{"the binding names neither credentialsRef nor accountRef"}
}

// readAccountKey checks that the account admits the binding's namespace,
// then reads the account's Secret.
func (r *PersonaReconciler) readAccountKey(ctx context.Context, pb *v1alpha1.PersonaBinding) (string, bland.Account, error) {
	name := pb.Spec.AccountRef.Name
	var acct v1alpha1.ClusterBlandAccount
	err := r.Get(ctx, client.ObjectKey{Name: name}, &acct)
	switch {
	case apierrors.IsNotFound(err):
		return "", bland.Account{}, &errCredentials{fmt.Sprintf("ClusterBlandAccount %q not found", name)}
	case err != nil:
		return "", bland.Account{}, fmt.Errorf("reading ClusterBlandAccount %q: %w", name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(&acct.Spec.NamespaceSelector)
	if err != nil {
		return "", bland.Account{}, &errNotPermitted{fmt.Sprintf("ClusterBlandAccount %q has an invalid namespaceSelector", name)}
	}
	var ns corev1.Namespace
	if err := r.Get(ctx, client.ObjectKey{Name: pb.Namespace}, &ns); err != nil {
		return "", bland.Account{}, fmt.Errorf("reading namespace %q: %w", pb.Namespace, err)
	}
	if !selector.Matches(labels.Set(ns.Labels)) {
		return "", bland.Account{}, &errNotPermitted{fmt.Sprintf("ClusterBlandAccount %q does not admit namespace %q (its namespaceSelector does not match the namespace's labels)", name, pb.Namespace)}
	}
	ref := acct.Spec.SecretRef
	key, err := readSecretKey(ctx, r.APIReader, ref.Namespace, ref.Name, ref.Key, "secretRef.key")
	var cred *errCredentials
	if errors.As(err, &cred) {
		return "", bland.Account{}, &errCredentials{fmt.Sprintf("ClusterBlandAccount %q: %s", name, cred.msg)}
	}
	return key, blandAccount(&acct), err
}

// blandAccount is what the Bland client is told of a ClusterBlandAccount: its
// name and, when it sets one, its own rate (burst twice the rate unless set).
func blandAccount(acct *v1alpha1.ClusterBlandAccount) bland.Account {
	out := bland.Account{Name: acct.Name}
	if l := acct.Spec.RateLimit; l != nil {
		out.QPS, out.Burst = float64(l.QPS), int(l.Burst)
		if l.Burst == 0 {
			out.Burst = 2 * int(l.QPS)
		}
	}
	return out
}

// readSecretKey reads one key of a Secret straight from the API server: the
// one place a Secret is read, for bindings and accounts alike.
func readSecretKey(ctx context.Context, reader client.Reader, namespace, name, key, field string) (string, error) {
	if key == "" {
		key = "apiKey"
	}
	var secret corev1.Secret
	metrics.SecretReads.Inc()
	err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &secret)
	switch {
	case apierrors.IsNotFound(err):
		return "", &errCredentials{fmt.Sprintf("Secret %q not found in namespace %q", name, namespace)}
	case err != nil:
		return "", fmt.Errorf("reading Secret %q: %w", name, err)
	}
	value := string(secret.Data[key])
	if value == "" {
		return "", &errCredentials{fmt.Sprintf("Secret %q has no key %q (%s)", name, key, field)}
	}
	return value, nil
}

// credentialsSource names where the binding's key comes from, for messages.
func credentialsSource(pb *v1alpha1.PersonaBinding) string {
	if pb.Spec.AccountRef != nil {
		return fmt.Sprintf("ClusterBlandAccount %q", pb.Spec.AccountRef.Name)
	}
	if pb.Spec.CredentialsRef != nil {
		return fmt.Sprintf("Secret %q", pb.Spec.CredentialsRef.Name)
	}
	return "no credentials"
}

// namespaceDeleting reports whether the binding's namespace is being deleted.
func (r *PersonaReconciler) namespaceDeleting(ctx context.Context, pb *v1alpha1.PersonaBinding) (bool, error) {
	var ns corev1.Namespace
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: pb.Namespace}, &ns); err != nil {
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}
	return !ns.DeletionTimestamp.IsZero(), nil
}
