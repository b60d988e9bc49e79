package plugin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// WithDefaults is the plan's stand-in for the API server's defaulting of a
// manifest that changes nothing: it must fill in exactly what the schema
// does, or an unchanged manifest would be planned as an edit (or an edit
// missed).
func TestWithDefaultsIsWhatTheAPIServerStores(t *testing.T) {
	namespace(t, "defaults")
	specs := []v1alpha1.PersonaBindingSpec{
		{PersonaID: "p", InboundNumbers: []string{"+14155559001"}, CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"}},
		{PersonaID: "p", InboundNumbers: []string{}, AccountRef: &v1alpha1.AccountRef{Name: "shared"}, Suspend: true,
			DeletionPolicy: v1alpha1.DeletionPolicyOrphan, ResyncInterval: &metav1.Duration{Duration: 45 * time.Second}},
	}
	for i, spec := range specs {
		pb := &v1alpha1.PersonaBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "defaults", Name: fmt.Sprintf("d%d", i)}, Spec: spec}
		must(t, k8s.Create(context.Background(), pb))
		var got v1alpha1.PersonaBinding
		must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(pb), &got))
		if want := spec.WithDefaults(); !equality.Semantic.DeepEqual(want, got.Spec) {
			t.Errorf("spec %d: WithDefaults gives %+v, the API server stored %+v", i, want, got.Spec)
		}
	}
}

// A manifest that changes nothing of its live binding is that binding: no
// dry run is asked for. The user plan-reader may not make one, so a dry
// run tried would print "dry run not performed"; a manifest that leaves
// the defaults out is still unchanged, and one that edits is still
// dry-run (and noted), its prediction showing its own edit only, not the
// defaults it leaves out.
func TestPlanOfAnUnchangedManifestAsksNoDryRun(t *testing.T) {
	namespace(t, "team-u")
	const u1, u2 = "+14155559101", "+14155559102"
	inSync(t, "team-u", "a", nil, u1, u2)
	grantPlanReader(t)
	out, errOut, code := plan(t, readKube, "-f", manifest(t, binding("team-u", "a", "", u1, u2)))
	if code != 0 || strings.Contains(errOut, "dry run not performed") {
		t.Errorf("an unchanged manifest: exit %d, want 0 without a dry run\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = plan(t, readKube, "-f", manifest(t, binding("team-u", "a", "  deletionPolicy: Orphan\n", u1, u2)))
	if code != 3 || !strings.Contains(errOut, "dry run not performed") || strings.Contains(out, "resyncInterval") {
		t.Errorf("an edited manifest: exit %d, want 3 with a dry run tried and only its own edit shown\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
