package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// A pull request that deletes a binding's file can be previewed: --prune
// plans the deletion of the live bindings of the input's namespaces that
// the input lacks (-l narrows them; -n names the namespace when no file
// is left), and nothing is deleted.
func TestPlanPrunePreviewsDeletions(t *testing.T) {
	const ns = "team-prune"
	const p1, p2, p3 = "+14155556001", "+14155556002", "+14155556003"
	namespace(t, ns)
	inSync(t, ns, "kept", nil, p1)
	gone := inSync(t, ns, "gone", nil, p2)
	labelled := inSync(t, ns, "labelled", nil, p3)
	must(t, k8s.Patch(context.Background(), labelled, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"tier":"gold"}}}`))))
	path := manifest(t, binding(ns, "kept", "", p1))

	out, errOut, code := plan(t, adminKube, "-f", path)
	if code != 0 || strings.Contains(out, "deleted") {
		t.Errorf("without --prune a binding absent from the input is left alone: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = plan(t, adminKube, "-f", path, "--prune")
	for _, want := range []string{ns + "/gone (deleted, generation 1)", "- detach " + p2, ns + "/labelled (deleted", "- detach " + p3} {
		if !strings.Contains(out, want) {
			t.Errorf("--prune: the plan lacks %q (exit %d)\n%s%s", want, code, out, errOut)
		}
	}
	if code != 3 || strings.Contains(out, ns+"/kept (deleted") {
		t.Errorf("--prune: exit %d, want 3, and the binding of the input kept\n%s", code, out)
	}
	out, _, _ = plan(t, adminKube, "-f", path, "--prune", "-l", "tier=gold")
	if !strings.Contains(out, ns+"/labelled (deleted") || strings.Contains(out, ns+"/gone (deleted") {
		t.Errorf("--prune -l tier=gold prunes only the labelled binding:\n%s", out)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	must(t, os.WriteFile(empty, nil, 0o600))
	out, errOut, code = plan(t, adminKube, "-f", empty, "--prune", "-n", ns)
	if code != 3 || strings.Count(out, "(deleted") != 3 {
		t.Errorf("every file deleted: exit %d, want 3 with three deletions\n%s%s", code, out, errOut)
	}
	var still v1alpha1.PersonaBinding
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(gone), &still))
	if !still.DeletionTimestamp.IsZero() {
		t.Error("the plan deleted a binding")
	}
}
