package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// The verbs users know from flux and cmctl: reconcile, approve, suspend and
// resume one binding. Each names it as pb/NAME (or NAME) in the namespace of
// -n or the context.

// target resolves pb/NAME to the binding's key and a client.
func target(config *genericclioptions.ConfigFlags, arg string) (client.Client, types.NamespacedName, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		kind, name = "pb", arg
	}
	switch strings.ToLower(kind) {
	case "pb", "personabinding", "personabindings", "personabinding.personas.bland-operator.dev":
	default:
		return nil, types.NamespacedName{}, fmt.Errorf("%q is not a PersonaBinding (name it pb/NAME)", arg)
	}
	ns, _, err := config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, types.NamespacedName{}, err
	}
	c, err := (&planOptions{config: config}).client()
	return c, types.NamespacedName{Namespace: ns, Name: name}, err
}

func newReconcile(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	timeout := 2 * time.Minute
	cmd := &cobra.Command{
		Use:   "reconcile pb/NAME",
		Short: "Ask the operator to look at a binding's persona now, and wait for the outcome",
		Long: `Sets the personas.bland-operator.dev/reconcile-requested-at annotation, waits until
the binding's status.lastHandledReconcileAt shows it (the operator read the
persona and acted), and prints the Ready condition reached. Exit status 1
when the wait times out or the binding is not Ready.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := target(config, args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			ctx := context.Background()
			stamp := time.Now().UTC().Format(time.RFC3339Nano)
			if err := annotate(ctx, c, key, v1alpha1.ReconcileRequestedAtAnnotation, stamp); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(streams.Out, "requested a reconcile of %s at %s\n", key, stamp)
			var pb v1alpha1.PersonaBinding
			err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
				if err := c.Get(ctx, key, &pb); err != nil {
					return false, err
				}
				return pb.Status.LastHandledReconcileAt == stamp, nil
			})
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("the operator did not handle the request within %s: %w", timeout, err)}
			}
			return printReady(streams, &pb)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "How long to wait for the operator.")
	return cmd
}

func newApprove(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "approve pb/NAME",
		Short: "Approve the detaches a binding's detach limit holds back",
		Long: `Shows the detaches the binding's detach limit holds back, then writes the
approve-detach annotation for the binding's current generation. A later edit
of the spec needs a new approval.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := target(config, args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			ctx := context.Background()
			var pb v1alpha1.PersonaBinding
			if err := c.Get(ctx, key, &pb); err != nil {
				return &exitError{code: 1, err: err}
			}
			if len(pb.Status.PendingDetach) == 0 {
				fmt.Fprintf(streams.Out, "%s has no detach waiting for approval\n", key)
				return nil
			}
			fmt.Fprintf(streams.Out, "approving, for generation %d of %s, the detach of %s from persona %s\n",
				pb.Generation, key, persona.List(pb.Status.PendingDetach), pb.Spec.PersonaID)
			return annotateOrExit(ctx, c, key, v1alpha1.ApproveDetachAnnotation, fmt.Sprint(pb.Generation))
		},
	}
}

func newSuspend(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, suspend bool) *cobra.Command {
	verb, done, short := "suspend", "suspended", "Stop the operator from changing anything in Bland for a binding"
	if !suspend {
		verb, done, short = "resume", "resumed", "Let the operator change Bland for a suspended binding again"
	}
	return &cobra.Command{
		Use:   verb + " pb/NAME",
		Short: short,
		Long: short + `. Sets spec.suspend; a binding managed from Git
is set back by the next sync unless Git says the same.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := target(config, args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			patch := fmt.Sprintf(`{"spec":{"suspend":%t}}`, suspend)
			pb := &v1alpha1.PersonaBinding{}
			pb.Namespace, pb.Name = key.Namespace, key.Name
			if err := c.Patch(context.Background(), pb, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(streams.Out, "%s %s (generation %d)\n", done, key, pb.Generation)
			return nil
		},
	}
}

func annotate(ctx context.Context, c client.Client, key types.NamespacedName, name, value string) error {
	pb := &v1alpha1.PersonaBinding{}
	pb.Namespace, pb.Name = key.Namespace, key.Name
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, name, value)
	return c.Patch(ctx, pb, client.RawPatch(types.MergePatchType, []byte(patch)))
}

func annotateOrExit(ctx context.Context, c client.Client, key types.NamespacedName, name, value string) error {
	if err := annotate(ctx, c, key, name, value); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

func printReady(streams genericiooptions.IOStreams, pb *v1alpha1.PersonaBinding) error {
	ready := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		return &exitError{code: 1, err: fmt.Errorf("%s/%s has no Ready condition", pb.Namespace, pb.Name)}
	}
	fmt.Fprintf(streams.Out, "%s/%s: Ready=%s %s: %s\n", pb.Namespace, pb.Name, ready.Status, ready.Reason, ready.Message)
	if ready.Status != "True" {
		return &exitError{code: 1}
	}
	return nil
}
