// Command kubectl-bland is the bland-operator's kubectl plugin
// (kubectl bland …). Its plan command shows what applying PersonaBindings
// would do to Bland before it happens, with the controller's own decisions.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func main() {
	os.Exit(run(os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}

// run executes the plugin and returns its exit status. A panic is exit
// status 1 ("the plan could not be made"), never Go's 2, which means an
// input the API server would refuse.
func run(args []string, streams genericiooptions.IOStreams) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(streams.ErrOut, "error: %v\n", r)
			code = 1
		}
	}()
	root := newRoot(streams)
	root.SetArgs(args)
	err := root.Execute()
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(streams.ErrOut, "error: %v\n", ee.err)
		}
		return ee.code
	case err != nil:
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
		return 1
	}
	return 0
}

func newRoot(streams genericiooptions.IOStreams) *cobra.Command {
	config := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:           "kubectl-bland",
		Short:         "See and steer what bland-operator does to Bland personas",
		SilenceUsage:  true,
		SilenceErrors: true,
		// kubectl runs the plugin as "kubectl bland": usage says so.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl bland"},
	}
	config.AddFlags(root.PersistentFlags())
	root.AddCommand(newPlan(config, streams), newReconcile(config, streams), newApprove(config, streams),
		newSuspend(config, streams, true), newSuspend(config, streams, false), newStatus(config, streams), newVersion(config, streams))
	return root
}
