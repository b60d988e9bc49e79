package main

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// The plan reads both kinds of binding and plans them as the operator does:
// an AgentBinding as its view (persona.AgentView), a PersonaBinding whose
// persona is its agent's target. Only the API server's dry run sees the
// object of its own kind.

var (
	personaBindingKind = v1alpha1.GroupVersion.WithKind("PersonaBinding")
	agentBindingKind   = v1alpha1.GroupVersion.WithKind(persona.KindAgentBinding)
)

// plannable says the manifest is a binding the plan covers.
func plannable(gvk schema.GroupVersionKind) bool {
	return gvk == personaBindingKind || gvk == agentBindingKind
}

// viewOf converts a manifest into the binding as planned. With strict, a
// field its schema does not have is an error, as kubectl apply's strict
// field validation makes it.
func viewOf(u *unstructured.Unstructured, strict bool) (*v1alpha1.PersonaBinding, error) {
	conv := runtime.DefaultUnstructuredConverter
	if u.GroupVersionKind() == agentBindingKind {
		var ab v1alpha1.AgentBinding
		if err := conv.FromUnstructuredWithValidation(u.Object, &ab, strict); err != nil {
			return nil, err
		}
		return persona.AgentView(&ab), nil
	}
	var pb v1alpha1.PersonaBinding
	if err := conv.FromUnstructuredWithValidation(u.Object, &pb, strict); err != nil {
		return nil, err
	}
	return &pb, nil
}

// objectOf is the API object a view stands for: the view itself for a
// PersonaBinding, the AgentBinding it was made from otherwise.
func objectOf(view *v1alpha1.PersonaBinding) client.Object {
	if persona.IsAgentView(view) {
		return persona.AgentFromView(view)
	}
	return view
}

// viewFrom is the view of an object objectOf returned, as the API server
// answered it.
func viewFrom(obj client.Object) *v1alpha1.PersonaBinding {
	if ab, ok := obj.(*v1alpha1.AgentBinding); ok {
		return persona.AgentView(ab)
	}
	return obj.(*v1alpha1.PersonaBinding)
}
