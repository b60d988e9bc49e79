package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// version is the plugin's version; a release stamps it (-X main.version).
var version = "dev"

// operatorLabel selects the operator's Deployments, as the chart and the
// kustomize install label them.
const operatorLabel = "app.kubernetes.io/name"

func newVersion(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, and the operator's where the cluster shows it",
		Long: `Prints the plugin's version, then each bland-operator Deployment the cluster
shows (labelled app.kubernetes.io/name=bland-operator) with its version label
and its manager image. When the cluster cannot be reached, or Deployments
may not be listed, only the plugin's version is printed, and a note says why.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			fmt.Fprintf(streams.Out, "plugin: %s\n", version)
			deployments, err := operatorDeployments(config)
			if err != nil {
				fmt.Fprintf(streams.ErrOut, "note: the operator's version is unknown: %v\n", err)
				return nil
			}
			if len(deployments) == 0 {
				fmt.Fprintln(streams.Out, "operator: no bland-operator Deployment found")
			}
			for _, d := range deployments {
				fmt.Fprintf(streams.Out, "operator: %s/%s %s (%s)\n", d.Namespace, d.Name, orUnknown(d.Labels["app.kubernetes.io/version"]), managerImage(d))
			}
			return nil
		},
	}
}

// operatorDeployments lists the operator's Deployments in every namespace.
func operatorDeployments(config *genericclioptions.ConfigFlags) ([]appsv1.Deployment, error) {
	cfg, err := config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	var list appsv1.DeploymentList
	if err := c.List(context.Background(), &list, client.MatchingLabels{operatorLabel: "bland-operator"}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// managerImage is the image of the Deployment's manager container.
func managerImage(d appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c.Image
		}
	}
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		return cs[0].Image
	}
	return "no container"
}

func orUnknown(s string) string {
	if s == "" {
		return "(version label not set)"
	}
	return s
}
