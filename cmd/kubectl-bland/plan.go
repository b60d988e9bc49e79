package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/persona"
	"github.com/bland-operator/bland-operator/internal/preview"
)

const planLong = `Show what applying PersonaBindings and AgentBindings would do to Bland:
per persona, or agent and environment, and per binding, the
numbers attached (+), detached (-) and handed over between bindings without a
call (> <), settings changed (~), detach limits tripped and conflicts met (!),
the Ready condition each binding would reach, and the Bland calls it costs.

Each manifest that differs from its live binding is first checked by the
API server as it would be stored (a dry-run create, or a dry-run update with
the manifest's spec: defaults, validation, admission, and the generation it
would get, which the printed approval names); one equal to it is the live
binding. Without the verbs for that, the manifest is read as written
and the output says "dry run not performed". By default Bland is not called:
the plan is made from what the bindings' statuses last recorded (their age is
printed), as the operator does for a spec change. With --refresh, each
persona and each agent is read from Bland once, with the API key of one of
its bindings' Secrets (if you may read it) or --api-key-file, and the plan
shows what drifted since the last sync. Nothing is ever written, to the cluster or to
Bland.

Exit status:
  0  nothing would change
  3  changes
  4  changes, and a binding of the input, or one whose outcome the input
     changes, would stall (a detach limit without approval, a number held
     by an older binding); bindings already stalled the same way without
     the input are shown as context and never set it
  2  an input was refused (not valid YAML, an unknown field, or rejected by
     the API server's dry run); the others are still planned
  1  the plan could not be made (cluster unreachable, permissions, bad flags)
With --exit-code=false, 3 and 4 become 0; 2 stays.`

type planOptions struct {
	config        *genericclioptions.ConfigFlags
	streams       genericiooptions.IOStreams
	files         resource.FilenameOptions
	output        string
	noColor       bool
	showUnchanged bool
	exitCode      bool
	detachLimit   int
	prune         bool
	selector      string

	refresh          bool
	apiKeyFile       string
	apiURL           string
	allowInsecureAPI bool
}

func newPlan(config *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &planOptions{config: config, streams: streams}
	cmd := &cobra.Command{
		Use:   "plan -f FILENAME",
		Short: "Show what applying PersonaBindings and AgentBindings would do to Bland",
		Long:  planLong,
		Example: `  kubectl bland plan -f bindings/
  kubectl bland plan -k overlays/prod -o json
  kustomize build . | kubectl bland plan -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.files.Filenames) == 0 && o.files.Kustomize == "" {
				return &exitError{code: 1, err: fmt.Errorf("name the manifests with -f or -k")}
			}
			if o.output != "text" && o.output != "json" {
				return &exitError{code: 1, err: fmt.Errorf("--output must be text or json, not %q", o.output)}
			}
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files.Filenames, "filename", "f", nil, "Files, directories or URLs of the manifests; - reads standard input.")
	f.StringVarP(&o.files.Kustomize, "kustomize", "k", "", "A kustomization directory to build and plan.")
	f.BoolVarP(&o.files.Recursive, "recursive", "R", false, "Read the directories of -f recursively.")
	f.StringVarP(&o.output, "output", "o", "text", "text or json (formatVersion "+preview.FormatVersion+").")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	f.BoolVar(&o.noColor, "no-color", false, "Print no colour.")
	f.BoolVar(&o.showUnchanged, "show-unchanged", false, "Also list the bindings nothing happens to.")
	f.BoolVar(&o.exitCode, "exit-code", true, "Exit 3 or 4 when something would change (see above).")
	f.IntVar(&o.detachLimit, "default-detach-limit", 0, "The manager's --default-detach-limit, for bindings without spec.detachLimit.")
	f.BoolVar(&o.prune, "prune", false, "Also plan the deletion of the live bindings of the input's namespaces (or -n's) that the input lacks, as kubectl apply --prune or a GitOps sync with pruning would.")
	f.StringVarP(&o.selector, "selector", "l", "", "With --prune: only live bindings with these labels are pruned (kubectl's label selector syntax).")
	f.BoolVar(&o.refresh, "refresh", false, "Read each persona and agent from Bland once (reads only) instead of planning from the recorded statuses.")
	f.StringVar(&o.apiKeyFile, "api-key-file", "", "With --refresh: a file holding the API key, instead of the bindings' Secrets.")
	f.StringVar(&o.apiURL, "api-url", bland.DefaultBaseURL, "With --refresh: Bland's API URL.")
	f.BoolVar(&o.allowInsecureAPI, "allow-insecure-api-url", false, "With --refresh: allow a plain-http --api-url (a local simulator).")
	return cmd
}

func (o *planOptions) run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := o.client()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	inputs, rejected, err := o.read()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	live, listNotes, err := listLive(ctx, c, namespacesOf(inputs))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	proposed, notes, refused, err := storeAll(ctx, c, inputs, live)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	rejected = append(rejected, refused...)
	notes = append(notes, listNotes...)
	if o.prune {
		pruned, err := o.pruned(proposed, rejected, live)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		proposed = append(proposed, pruned...)
	}
	var observed map[string]map[string]*persona.Settings
	var missing map[string]bool
	if o.refresh {
		if observed, missing, err = o.readBland(ctx, c, proposed, live); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	now := time.Now()
	rep := preview.Make(preview.Input{Proposed: proposed, Live: live, Observed: observed, NotFound: missing, DefaultDetachLimit: o.detachLimit, Now: now})
	rep.Notes, rep.Errors = notes, rejected
	if err := o.print(rep, now); err != nil {
		return &exitError{code: 1, err: err}
	}
	// --exit-code=false quiets changes and stalls, never a refused input.
	if code := rep.ExitCode(); code == preview.ExitRejected || (code != 0 && o.exitCode) {
		return &exitError{code: code}
	}
	return nil
}

func (o *planOptions) client() (client.Client, error) {
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	// client-go's default of 5 requests a second would make a plan of 100
	// bindings (a dry run each) take 40 s; kubectl allows 50 (burst 300).
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 300
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil { // Secrets, for --refresh
		return nil, err
	}
	if err := eventsv1.AddToScheme(scheme); err != nil { // approve --reason
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// input is one binding of the manifests, and the file it came from.
type input struct {
	object *unstructured.Unstructured
	source string
}

func (in input) rejection(msg string) preview.Rejection {
	return preview.Rejection{Source: in.source, Kind: in.object.GetKind(), Namespace: in.object.GetNamespace(), Name: in.object.GetName(), Message: msg}
}

// read returns the bindings of both kinds among the manifests, each with its
// namespace (the manifest's, else --namespace, else the context's), and the
// inputs it refused: a file that is not valid YAML, or a binding with a
// field its schema does not have (as kubectl apply's strict field
// validation refuses it). The rest are still planned.
func (o *planOptions) read() ([]input, []preview.Rejection, error) {
	ns, explicit, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, nil, err
	}
	infos, err := resource.NewBuilder(o.config).Unstructured().Local().ContinueOnError().
		NamespaceParam(ns).DefaultNamespace().FilenameParam(explicit, &o.files).Flatten().Do().Infos()
	var rejected []preview.Rejection
	for _, e := range flatten(err) {
		rejected = append(rejected, preview.Rejection{Message: "cannot be read: " + e.Error()})
	}
	var out []input
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || !plannable(u.GroupVersionKind()) {
			continue
		}
		if u.GetNamespace() == "" {
			u.SetNamespace(ns)
		}
		in := input{object: u, source: info.Source}
		if _, err := viewOf(u, true); err != nil {
			rejected = append(rejected, in.rejection(err.Error()))
			continue
		}
		out = append(out, in)
	}
	if len(out) == 0 && len(rejected) == 0 && !o.prune {
		return nil, nil, fmt.Errorf("the manifests hold no %s PersonaBinding or AgentBinding", v1alpha1.GroupVersion)
	}
	return out, rejected, nil
}

// flatten lists the errors of an aggregate (the builder's, one per input
// it could not read), or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		var out []error
		for _, e := range agg.Errors() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// listLive returns the live bindings of both kinds every persona and agent
// involved may have (AgentBindings as their views). Each kind is listed in
// all namespaces when the user may, else in the manifests' namespaces, and
// a note says what was not seen. A user who may not list AgentBindings at
// all (or a cluster without their CRD) still gets a plan of its
// PersonaBindings, with a note; the reverse holds too.
func listLive(ctx context.Context, c client.Client, namespaces []string) ([]v1alpha1.PersonaBinding, []string, error) {
	namespaces = slices.Compact(slices.Sorted(slices.Values(namespaces)))
	var out []v1alpha1.PersonaBinding
	var notes []string
	for _, kind := range []struct {
		name string
		list func(...client.ListOption) ([]v1alpha1.PersonaBinding, error)
	}{
		{"PersonaBindings", func(opts ...client.ListOption) ([]v1alpha1.PersonaBinding, error) {
			var l v1alpha1.PersonaBindingList
			err := c.List(ctx, &l, opts...)
			return l.Items, err
		}},
		{"AgentBindings", func(opts ...client.ListOption) ([]v1alpha1.PersonaBinding, error) {
			var l v1alpha1.AgentBindingList
			err := c.List(ctx, &l, opts...)
			var views []v1alpha1.PersonaBinding
			for i := range l.Items {
				views = append(views, *persona.AgentView(&l.Items[i]))
			}
			return views, err
		}},
	} {
		items, note, err := listKind(kind.name, kind.list, namespaces)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, items...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	return out, notes, nil
}

// listKind lists one kind of binding in all namespaces, else in each of
// namespaces.
func listKind(kind string, list func(...client.ListOption) ([]v1alpha1.PersonaBinding, error), namespaces []string) ([]v1alpha1.PersonaBinding, string, error) {
	items, err := list()
	switch {
	case err == nil:
		return items, "", nil
	case meta.IsNoMatchError(err):
		return nil, fmt.Sprintf("the cluster serves no %s: none is part of this plan", kind), nil
	case !apierrors.IsForbidden(err):
		return nil, "", fmt.Errorf("listing %s: %w", kind, err)
	}
	var out []v1alpha1.PersonaBinding
	for _, ns := range namespaces {
		items, err := list(client.InNamespace(ns))
		if apierrors.IsForbidden(err) {
			return nil, fmt.Sprintf("%s could not be listed (forbidden): none is part of this plan, and numbers they hold are not seen", kind), nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("listing %s in %s: %w", kind, ns, err)
		}
		out = append(out, items...)
	}
	return out, fmt.Sprintf("%s could be listed only in %v: those of the same personas and agents elsewhere are not part of this plan", kind, namespaces), nil
}

func (o *planOptions) print(rep preview.Report, now time.Time) error {
	if o.output == "json" {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(o.streams.ErrOut, "error: %s\n", describeRejection(e))
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(o.streams.ErrOut, "note: %s\n", n)
	}
	return preview.WriteText(o.streams.Out, rep, preview.TextOptions{Color: !o.noColor && isTerminal(o.streams.Out), ShowUnchanged: o.showUnchanged, Now: now})
}

// describeRejection names a refused input by its file and binding, when known.
func describeRejection(e preview.Rejection) string {
	var where []string
	if e.Source != "" {
		where = append(where, e.Source)
	}
	if e.Name != "" {
		where = append(where, cmp.Or(e.Kind, "PersonaBinding")+" "+e.Namespace+"/"+e.Name)
	}
	if len(where) == 0 {
		return e.Message
	}
	return strings.Join(where, ": ") + ": " + e.Message
}

// pruned are the live bindings a sync with pruning would delete: those of
// the input's namespaces (or the -n namespace, when the input holds none)
// that match -l and that no input names, refused inputs included (a
// binding whose manifest has a typo is not deleted by fixing it). Each is
// returned as the API server would show it: marked for deletion, its
// finalizer still on.
func (o *planOptions) pruned(proposed []*v1alpha1.PersonaBinding, rejected []preview.Rejection, live []v1alpha1.PersonaBinding) ([]*v1alpha1.PersonaBinding, error) {
	selector, err := labels.Parse(o.selector)
	if err != nil {
		return nil, fmt.Errorf("--selector: %w", err)
	}
	namespaces, named := map[string]bool{}, map[string]bool{}
	for _, pb := range proposed {
		namespaces[pb.Namespace], named[persona.KeyOf(pb)] = true, true
	}
	for _, r := range rejected {
		if r.Name != "" {
			named[rejectedKey(r)] = true
		}
	}
	if len(namespaces) == 0 {
		ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, err
		}
		namespaces[ns] = true
	}
	var out []*v1alpha1.PersonaBinding
	now := metav1.Now()
	for i := range live {
		pb := &live[i]
		if !namespaces[pb.Namespace] || named[persona.KeyOf(pb)] || !pb.DeletionTimestamp.IsZero() || !selector.Matches(labels.Set(pb.Labels)) {
			continue
		}
		gone := pb.DeepCopy()
		gone.DeletionTimestamp = &now
		out = append(out, gone)
	}
	return out, nil
}

// rejectedKey is the key (persona.KeyOf) of the binding a refused input names.
func rejectedKey(r preview.Rejection) string {
	if r.Kind == persona.KindAgentBinding {
		return persona.KindAgentBinding + "/" + r.Namespace + "/" + r.Name
	}
	return r.Namespace + "/" + r.Name
}
