package controller_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

func TestTheAPIServerRejectsBadInput(t *testing.T) {
	g := NewWithT(t)
	ns := fmt.Sprintf("validation-%d", serial.Add(1))
	g.Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	valid := func() *v1alpha1.PersonaBinding {
		return &v1alpha1.PersonaBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-", Namespace: ns},
			Spec: v1alpha1.PersonaBindingSpec{
				PersonaID:      "persona-1",
				InboundNumbers: []string{"+14155551234", "+14155555678"},
				CredentialsRef: &v1alpha1.SecretKeyRef{Name: "bland"},
			},
		}
	}
	tooMany := make([]string, 501)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("+1415555%04d", i)
	}
	tests := []struct {
		name   string
		mutate func(*v1alpha1.PersonaBinding)
		field  string
	}{
		{"a number not in E.164", func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers[0] = "4155551234" }, "spec.inboundNumbers[0]"},
		{"a number with a leading zero", func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers[0] = "+04155551234" }, "spec.inboundNumbers[0]"},
		{"a duplicate number", func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers[1] = pb.Spec.InboundNumbers[0] }, "spec.inboundNumbers[1]"},
		{"more than 500 numbers", func(pb *v1alpha1.PersonaBinding) { pb.Spec.InboundNumbers = tooMany }, "spec.inboundNumbers"},
		{"a personaID with a slash", func(pb *v1alpha1.PersonaBinding) { pb.Spec.PersonaID = "a/b" }, "spec.personaID"},
		{"a personaID with dot-dot", func(pb *v1alpha1.PersonaBinding) { pb.Spec.PersonaID = ".." }, "spec.personaID"},
		{"an empty personaID", func(pb *v1alpha1.PersonaBinding) { pb.Spec.PersonaID = "" }, "spec.personaID"},
		{"settings for a number that is not listed", func(pb *v1alpha1.PersonaBinding) {
			pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: "+14155550000", PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "p"}}}
		}, "numberSettings"},
		{"a pathwayVersion of zero", func(pb *v1alpha1.PersonaBinding) {
			zero := int64(0)
			pb.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: "+14155551234", PathwaySettings: v1alpha1.PathwaySettings{PathwayVersion: &zero}}}
		}, "spec.numberSettings[0].pathwayVersion"},
		{"an unknown deletionPolicy", func(pb *v1alpha1.PersonaBinding) { pb.Spec.DeletionPolicy = "Delete" }, "spec.deletionPolicy"},
		{"a resyncInterval under 30s", func(pb *v1alpha1.PersonaBinding) { pb.Spec.ResyncInterval = &metav1.Duration{Duration: 10e9} }, "spec.resyncInterval"},
		{"no credentials Secret name", func(pb *v1alpha1.PersonaBinding) { pb.Spec.CredentialsRef.Name = "" }, "spec.credentialsRef.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			pb := valid()
			tt.mutate(pb)
			err := k8s.Create(context.Background(), pb)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected the API server to reject it, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tt.field))
		})
	}

	t.Run("a valid binding is accepted with its defaults", func(t *testing.T) {
		g := NewWithT(t)
		pb := valid()
		pb.Spec.InboundNumbers = []string{} // an empty list is allowed
		g.Expect(k8s.Create(context.Background(), pb)).To(Succeed())
		g.Expect(pb.Spec.DeletionPolicy).To(Equal(v1alpha1.DeletionPolicyDetach))
		g.Expect(pb.Spec.ResyncInterval.Duration.String()).To(Equal("10m0s"))
		g.Expect(pb.Spec.CredentialsRef.Key).To(Equal("apiKey"))

		t.Run("and its personaID cannot change", func(t *testing.T) {
			g := NewWithT(t)
			// A merge patch without a resourceVersion: it cannot lose a race with
			// the operator's own writes (a 409), only meet the immutability rule.
			err := k8s.Patch(context.Background(), pb, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"personaID":"persona-2"}}`)))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring("personaID is immutable"))
		})
		g.Expect(k8s.Delete(context.Background(), pb, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
	})
}

// A ClusterBlandAccount's rateLimit is refused at apply time outside 1 to
// 1,000 calls a second, naming the field.
func TestTheAPIServerRejectsABadAccountRate(t *testing.T) {
	g := NewWithT(t)
	for _, tt := range []struct {
		limit v1alpha1.AccountRateLimit
		field string
	}{
		{v1alpha1.AccountRateLimit{QPS: 0}, "spec.rateLimit.qps"},
		{v1alpha1.AccountRateLimit{QPS: 5000}, "spec.rateLimit.qps"},
		{v1alpha1.AccountRateLimit{QPS: 5, Burst: -1}, "spec.rateLimit.burst"},
	} {
		acct := &v1alpha1.ClusterBlandAccount{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-rate-"},
			Spec: v1alpha1.ClusterBlandAccountSpec{
				SecretRef: v1alpha1.NamespacedSecretKeyRef{Namespace: "platform", Name: "bland"},
				RateLimit: &tt.limit,
			},
		}
		err := k8s.Create(context.Background(), acct)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "rate %+v: %v", tt.limit, err)
		g.Expect(err.Error()).To(ContainSubstring(tt.field))
	}
}
