package main

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/persona"
	"github.com/bland-operator/bland-operator/internal/preview"
)

// dryRunWorkers is how many dry runs are in flight at once: a plan of many
// edited bindings waits on the API server, not on its own CPU, and the
// client's rate limit (kubectl's 50 a second, burst 300) still applies.
const dryRunWorkers = 8

// storeAll turns each input into the binding as the API server would store
// it, in the inputs' order: the live binding itself when the manifest
// changes nothing (no request), else a dry run, several at once. Inputs
// the API server refuses are returned as rejections; any other error stops
// the plan.
func storeAll(ctx context.Context, c client.Client, inputs []input, live []v1alpha1.PersonaBinding) ([]*v1alpha1.PersonaBinding, []string, []preview.Rejection, error) {
	byKey := make(map[string]*v1alpha1.PersonaBinding, len(live))
	for i := range live {
		byKey[persona.KeyOf(&live[i])] = &live[i]
	}
	type result struct {
		pb   *v1alpha1.PersonaBinding
		note string
		err  error
	}
	results := make([]result, len(inputs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(dryRunWorkers, len(inputs)) {
		wg.Go(func() {
			for i := range work {
				want, err := viewOf(inputs[i].object, false)
				if err != nil {
					results[i] = result{err: apierrors.NewBadRequest(err.Error())}
					continue
				}
				pb, note, err := stored(ctx, c, want, byKey[persona.KeyOf(want)])
				results[i] = result{pb, note, err}
			}
		})
	}
	for i := range inputs {
		work <- i
	}
	close(work)
	wg.Wait()

	var proposed []*v1alpha1.PersonaBinding
	var notes []string
	var rejected []preview.Rejection
	for i, r := range results {
		switch {
		case apierrors.IsInvalid(r.err) || apierrors.IsBadRequest(r.err):
			rejected = append(rejected, inputs[i].rejection("would be rejected: "+r.err.Error()))
			continue
		case r.err != nil:
			return nil, nil, nil, r.err
		}
		proposed = append(proposed, r.pb)
		if r.note != "" {
			notes = append(notes, r.note)
		}
	}
	return proposed, notes, rejected, nil
}

// namespacesOf lists the inputs' namespaces.
func namespacesOf(inputs []input) []string {
	var out []string
	for _, in := range inputs {
		out = append(out, in.object.GetNamespace())
	}
	return out
}

// stored is the binding (a view, for an AgentBinding) as the API server
// would store it. A manifest that
// changes nothing of the live binding cur (its spec, once the schema's
// defaults are filled in, and every label and annotation it sets) is cur
// itself: a dry run would return the same object. Otherwise it is a
// dry-run create, or a dry-run update of cur with the manifest's spec,
// labels and annotations (annotations others set, such as an approval, are
// kept, as kubectl apply keeps them). Without the verbs, it is the manifest
// read as written, and the note says so.
func stored(ctx context.Context, c client.Client, want, cur *v1alpha1.PersonaBinding) (*v1alpha1.PersonaBinding, string, error) {
	exists := cur != nil
	if exists && unchanged(want, cur) {
		return cur.DeepCopy(), "", nil
	}
	next := want.DeepCopy()
	next.Status = v1alpha1.PersonaBindingStatus{}
	if exists {
		next = cur.DeepCopy()
		next.Spec = want.Spec
		next.Labels = merged(cur.Labels, want.Labels)
		next.Annotations = merged(cur.Annotations, want.Annotations)
	} else {
		cur = &v1alpha1.PersonaBinding{}
	}
	obj := objectOf(next)
	var err error
	if exists {
		err = c.Update(ctx, obj, client.DryRunAll, client.FieldValidation("Strict"))
	} else {
		err = c.Create(ctx, obj, client.DryRunAll, client.FieldValidation("Strict"))
	}
	if apierrors.IsForbidden(err) {
		note := fmt.Sprintf("%s %s/%s: dry run not performed (%s); the manifest is read as written", kindOf(want), want.Namespace, want.Name, apierrors.ReasonForError(err))
		return asWritten(want, cur, exists), note, nil
	}
	next = viewFrom(obj)
	if err != nil {
		return nil, "", err
	}
	if exists {
		next.Status = cur.Status // an update returns the status as stored; keep the live one
	}
	return next, "", nil
}

// unchanged says applying want would leave cur as it is: the same spec with
// the schema's defaults, and no label or annotation it sets differs.
func unchanged(want, cur *v1alpha1.PersonaBinding) bool {
	return equality.Semantic.DeepEqual(want.Spec.WithDefaults(), cur.Spec) &&
		maps.Equal(merged(cur.Labels, want.Labels), cur.Labels) &&
		maps.Equal(merged(cur.Annotations, want.Annotations), cur.Annotations)
}

// asWritten predicts what a dry run would have: the live object's
// metadata and status, the manifest's spec with the schema's defaults, the
// next generation when the spec changes; a new binding is the youngest, at
// generation 1.
func asWritten(want, cur *v1alpha1.PersonaBinding, exists bool) *v1alpha1.PersonaBinding {
	spec := want.Spec.WithDefaults()
	if !exists {
		pb := want.DeepCopy()
		pb.Spec = spec
		pb.Status = v1alpha1.PersonaBindingStatus{}
		pb.Generation, pb.CreationTimestamp = 1, metav1.Now()
		return pb
	}
	pb := cur.DeepCopy()
	pb.Labels, pb.Annotations = merged(cur.Labels, want.Labels), merged(cur.Annotations, want.Annotations)
	if !equality.Semantic.DeepEqual(cur.Spec, spec) {
		pb.Spec = spec
		pb.Generation++
	}
	return pb
}

func merged(live, manifest map[string]string) map[string]string {
	if live == nil && manifest == nil {
		return nil
	}
	out := maps.Clone(live)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, manifest)
	return out
}
