package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
	"github.com/bland-operator/bland-operator/internal/preview"
)

// The verbs users know from flux and cmctl: reconcile, approve, suspend and
// resume bindings. Each names them as pb/NAME (or NAME) or ab/NAME in the
// namespace of -n or the context; reconcile, suspend and resume also take
// --all.

// targets resolves the bindings named (pb/NAME, ab/NAME or NAME), or with
// all every binding of the namespace, and returns a client.
func targets(config *genericclioptions.ConfigFlags, args []string, all bool) (client.Client, []binding, error) {
	switch {
	case all && len(args) > 0:
		return nil, nil, fmt.Errorf("name bindings or pass --all, not both")
	case !all && len(args) == 0:
		return nil, nil, fmt.Errorf("name a binding (pb/NAME), or pass --all")
	}
	ns, _, err := config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, nil, err
	}
	c, err := (&planOptions{config: config}).client()
	if err != nil {
		return nil, nil, err
	}
	var keys []binding
	for _, arg := range args {
		b, err := parseBinding(arg, ns)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, b)
	}
	if all {
		if keys, err = allBindings(context.Background(), c, ns); err != nil {
			return nil, nil, err
		}
	}
	return c, keys, nil
}

func newReconcile(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	timeout, all := 2*time.Minute, false
	cmd := &cobra.Command{
		Use:   "reconcile pb/NAME|ab/NAME... | --all",
		Short: "Ask the operator to look at bindings' personas now, and wait for the outcome",
		Long: `Sets the personas.bland-operator.dev/reconcile-requested-at annotation on each
binding named (or, with --all, every binding of the namespace), waits until
each status.lastHandledReconcileAt shows it (the operator read the persona and
acted), and prints the Ready condition reached. Exit status 1 when a wait
times out or a binding is not Ready.`,
		ValidArgsFunction: completeBindings(config),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, keys, err := targets(config, args, all)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			ctx := context.Background()
			stamp := time.Now().UTC().Format(time.RFC3339Nano)
			for _, key := range keys {
				if err := annotate(ctx, c, key, v1alpha1.ReconcileRequestedAtAnnotation, stamp); err != nil {
					return &exitError{code: 1, err: err}
				}
				fmt.Fprintf(streams.Out, "requested a reconcile of %s at %s\n", key, stamp)
			}
			handled := func(pb *v1alpha1.PersonaBinding) bool { return pb.Status.LastHandledReconcileAt == stamp }
			return waitEach(ctx, c, keys, timeout, handled, "the operator handled the request", streams)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "How long to wait for the operator.")
	cmd.Flags().BoolVar(&all, "all", false, "Every binding of the namespace.")
	return cmd
}

// waitEach waits, for each binding, until done says so, then prints its
// Ready condition; it fails when a wait timed out (what says what it waited
// for) or a binding is not Ready.
func waitEach(ctx context.Context, c client.Client, keys []binding, timeout time.Duration, done func(*v1alpha1.PersonaBinding) bool, what string, streams genericiooptions.IOStreams) error {
	failed := false
	for _, key := range keys {
		pb, err := waitFor(ctx, c, key, timeout, done)
		if err != nil {
			fmt.Fprintf(streams.ErrOut, "error: %s: not %s within %s: %v\n", key, what, timeout, err)
			failed = true
			continue
		}
		failed = printReady(streams, pb) != nil || failed
	}
	if failed {
		return &exitError{code: 1}
	}
	return nil
}

// waitFor polls the binding until done says so, or the timeout.
func waitFor(ctx context.Context, c client.Client, key binding, timeout time.Duration, done func(*v1alpha1.PersonaBinding) bool) (*v1alpha1.PersonaBinding, error) {
	var pb *v1alpha1.PersonaBinding
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := key.get(ctx, c)
		if err != nil {
			return false, err
		}
		pb = cur
		return done(pb), nil
	})
	if pb == nil {
		pb = &v1alpha1.PersonaBinding{}
	}
	return pb, err
}

// readyAtGeneration says the operator has reported on the binding's current
// generation and it is Ready.
func readyAtGeneration(pb *v1alpha1.PersonaBinding) bool {
	ready := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady)
	return pb.Status.ObservedGeneration == pb.Generation && ready != nil && ready.ObservedGeneration == pb.Generation && ready.Status == "True"
}

func newApprove(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var reason string
	var waitReady bool
	timeout := 2 * time.Minute
	cmd := &cobra.Command{
		Use:   "approve pb/NAME|ab/NAME",
		Short: "Approve the detaches a binding's detach limit holds back",
		Long: `Shows the detaches the binding's detach limit holds back, then writes the
approve-detach annotation for the binding's current generation and exactly
those numbers. A later edit of the spec, or a different set of numbers to
detach (a number that drifted), needs a new approval. --reason records why in an Event on the
binding (kubectl events shows it beside the operator's); --wait waits until
the operator has made the detaches and the binding is Ready.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeBindings(config),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, keys, err := targets(config, args, false)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			key, ctx := keys[0], context.Background()
			pb, err := key.get(ctx, c)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if len(pb.Status.PendingDetach) == 0 {
				fmt.Fprintf(streams.Out, "%s has no detach waiting for approval\n", key)
				return nil
			}
			if pb.Status.ObservedGeneration != pb.Generation {
				// The pending set shown is an older generation's: approving it
				// would approve what nobody has seen.
				return &exitError{code: 1, err: fmt.Errorf("the operator has not reported on generation %d of %s yet (status is of generation %d): run approve again once it has",
					pb.Generation, key, pb.Status.ObservedGeneration)}
			}
			fmt.Fprintf(streams.Out, "approving, for generation %d of %s, the detach of %s from %s\n",
				pb.Generation, key, persona.List(pb.Status.PendingDetach), persona.TargetName(pb.Spec.PersonaID))
			if err := annotateOrExit(ctx, c, key, v1alpha1.ApproveDetachAnnotation, persona.ApprovalFor(pb.Generation, pb.Status.PendingDetach)); err != nil {
				return err
			}
			if reason != "" {
				if err := recordApproval(ctx, c, pb, reason); err != nil {
					fmt.Fprintf(streams.ErrOut, "warning: the approval is written, but its reason could not be recorded in an Event: %v\n", err)
				}
			}
			if !waitReady {
				return nil
			}
			got, err := waitFor(ctx, c, key, timeout, func(cur *v1alpha1.PersonaBinding) bool {
				return len(cur.Status.PendingDetach) == 0 && readyAtGeneration(cur)
			})
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s was not Ready with its detaches made within %s: %w", key, timeout, err)}
			}
			return printReady(streams, got)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "Why the detaches are approved, recorded in an Event on the binding.")
	cmd.Flags().BoolVar(&waitReady, "wait", false, "Wait until the operator has made the detaches and the binding is Ready.")
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "How long --wait waits.")
	return cmd
}

// recordApproval records who approved what, and why, as an Event on the
// binding.
func recordApproval(ctx context.Context, c client.Client, pb *v1alpha1.PersonaBinding, reason string) error {
	now := metav1.NowMicro()
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: pb.Namespace, GenerateName: pb.Name + "-approval-"},
		EventTime:           now,
		ReportingController: "kubectl-bland",
		ReportingInstance:   "kubectl-bland",
		Action:              "Approve",
		Reason:              "DetachApproved",
		Type:                corev1.EventTypeNormal,
		Regarding:           corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: kindOf(pb), Namespace: pb.Namespace, Name: pb.Name, UID: pb.UID},
		Note: fmt.Sprintf("Approved, for generation %d, the detach of %s from %s: %s",
			pb.Generation, persona.List(pb.Status.PendingDetach), persona.TargetName(pb.Spec.PersonaID), reason),
	}
	return c.Create(ctx, ev)
}

func newSuspend(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, suspend bool) *cobra.Command {
	verb, done, short := "suspend", "suspended", "Stop the operator from changing anything in Bland for bindings"
	if !suspend {
		verb, done, short = "resume", "resumed", "Let the operator change Bland for suspended bindings again"
	}
	var all, waitReady bool
	timeout := 2 * time.Minute
	long := short + `. Sets spec.suspend on each binding named (or, with --all, every
binding of the namespace); a binding managed from Git is set back by the next
sync unless Git says the same.`
	if !suspend {
		long += ` Before it does, it prints what resuming will do (the plan: the
numbers it will attach and detach). --wait waits until each is Ready.`
	}
	cmd := &cobra.Command{
		Use:               verb + " pb/NAME|ab/NAME... | --all",
		Short:             short,
		Long:              long,
		ValidArgsFunction: completeBindings(config),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, keys, err := targets(config, args, all)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			ctx := context.Background()
			if !suspend {
				if err := printResumePlan(ctx, c, keys, streams); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			patch := fmt.Sprintf(`{"spec":{"suspend":%t}}`, suspend)
			for _, key := range keys {
				obj := key.object()
				if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
					return &exitError{code: 1, err: err}
				}
				fmt.Fprintf(streams.Out, "%s %s (generation %d)\n", done, key, obj.GetGeneration())
			}
			if !waitReady {
				return nil
			}
			return waitEach(ctx, c, keys, timeout, readyAtGeneration, "it was Ready", streams)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Every binding of the namespace.")
	if !suspend {
		cmd.Flags().BoolVar(&waitReady, "wait", false, "Wait until each binding is Ready.")
		cmd.Flags().DurationVar(&timeout, "timeout", timeout, "How long --wait waits.")
	}
	return cmd
}

// printResumePlan prints what resuming the bindings will do: the plan of
// their specs with suspend false, from the records, as kubectl bland plan
// would show it. (The plan covers PersonaBindings only.)
func printResumePlan(ctx context.Context, c client.Client, keys []binding, streams genericiooptions.IOStreams) error {
	var proposed []*v1alpha1.PersonaBinding
	for _, key := range keys {
		if key.agent {
			continue
		}
		var pb v1alpha1.PersonaBinding
		if err := c.Get(ctx, key.key, &pb); err != nil {
			return err
		}
		if !pb.Spec.Suspend {
			continue
		}
		next := pb.DeepCopy()
		next.Spec.Suspend = false
		next.Generation++
		proposed = append(proposed, next)
	}
	if len(proposed) == 0 {
		return nil
	}
	var namespaces []string
	for _, pb := range proposed {
		namespaces = append(namespaces, pb.Namespace)
	}
	live, _, err := listLive(ctx, c, namespaces)
	if err != nil {
		return err
	}
	now := time.Now()
	rep := preview.Make(preview.Input{Proposed: proposed, Live: live, Now: now})
	fmt.Fprintln(streams.Out, "resuming will do this:")
	return preview.WriteText(streams.Out, rep, preview.TextOptions{Color: isTerminal(streams.Out), Now: now})
}

func annotate(ctx context.Context, c client.Client, key binding, name, value string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, name, value)
	return c.Patch(ctx, key.object(), client.RawPatch(types.MergePatchType, []byte(patch)))
}

// kindOf names the kind a binding as the operator plans it stands for.
func kindOf(pb *v1alpha1.PersonaBinding) string {
	if persona.IsAgentView(pb) {
		return persona.KindAgentBinding
	}
	return "PersonaBinding"
}

func annotateOrExit(ctx context.Context, c client.Client, key binding, name, value string) error {
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
