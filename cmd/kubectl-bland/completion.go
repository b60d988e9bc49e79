package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// completeBindings completes the names of the bindings of the namespace
// (-n, or the context's), for the verbs that act on bindings. kubectl
// completes a plugin's arguments through kubectl_complete-bland, which
// the release installs beside the plugin; it runs "kubectl-bland
// __complete".
func completeBindings(config *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ns, _, err := config.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := (&planOptions{config: config}).client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var list v1alpha1.PersonaBindingList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		prefix := ""
		if strings.HasPrefix(toComplete, "pb/") {
			prefix = "pb/"
		}
		var out []cobra.Completion
		for i := range list.Items {
			name := prefix + list.Items[i].Name
			if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
