package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
)

// newStatus prints, per persona, its bindings oldest first (the order in
// which they claim numbers), what each holds, what waits for approval and
// which numbers an older binding holds.
func newStatus(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	all := false
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each persona's and agent's bindings: who holds which number, what waits, what conflicts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := (&planOptions{config: config}).client()
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			var opts []client.ListOption
			if !all {
				ns, _, err := config.ToRawKubeConfigLoader().Namespace()
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				opts = append(opts, client.InNamespace(ns))
			}
			var list v1alpha1.PersonaBindingList
			if err := c.List(context.Background(), &list, opts...); err != nil {
				return &exitError{code: 1, err: err}
			}
			var agents v1alpha1.AgentBindingList
			if err := c.List(context.Background(), &agents, opts...); err != nil {
				return &exitError{code: 1, err: err}
			}
			for i := range agents.Items {
				list.Items = append(list.Items, *persona.AgentView(&agents.Items[i]))
			}
			return writeStatus(streams, list.Items)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "Bindings of every namespace.")
	return cmd
}

func writeStatus(streams genericiooptions.IOStreams, items []v1alpha1.PersonaBinding) error {
	slices.SortFunc(items, func(a, b v1alpha1.PersonaBinding) int {
		if c := strings.Compare(a.Spec.PersonaID, b.Spec.PersonaID); c != 0 {
			return c
		}
		if persona.OlderThan(&a, &b) {
			return -1
		}
		return 1
	})
	w := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PERSONA\tBINDING\tREADY\tREASON\tHOLDS\tPENDING DETACH\tHELD ELSEWHERE")
	for i := range items {
		pb := &items[i]
		ready, reason := "Unknown", ""
		if c := meta.FindStatusCondition(pb.Status.Conditions, v1alpha1.ConditionReady); c != nil {
			ready, reason = string(c.Status), c.Reason
		}
		var conflicts []string
		for _, n := range pb.Status.Numbers {
			if n.State == v1alpha1.NumberConflict {
				conflicts = append(conflicts, n.Number)
			}
		}
		target, name := pb.Spec.PersonaID, pb.Namespace+"/"+pb.Name
		if agent, env, ok := persona.ParseAgentTarget(target); ok {
			target, name = "agent "+agent+" ("+string(env)+")", "ab/"+name
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", target, name, ready, reason,
			orDash(pb.Status.BoundNumbers), orDash(pb.Status.PendingDetach), orDash(conflicts))
	}
	return w.Flush()
}

func orDash(nums []string) string {
	if len(nums) == 0 {
		return "-"
	}
	return persona.List(nums)
}
