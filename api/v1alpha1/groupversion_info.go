// Package v1alpha1 holds the PersonaBinding API: the phone numbers wanted on one
// Bland AI persona, and what the operator did about them.
//
// +kubebuilder:object:generate=true
// +groupName=personas.bland-operator.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "personas.bland-operator.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &PersonaBinding{}, &PersonaBindingList{}, &ClusterBlandAccount{}, &ClusterBlandAccountList{},
		&AgentBinding{}, &AgentBindingList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
