package reliability

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// modelResync is the model's resyncInterval: a short clock, so that the
// quiet window can watch ten resyncs of every persona in half a minute. The
// product refuses intervals under 30 s (CEL on the CRD); this suite's API
// server accepts one second and up (crdsWithShortResync).
const modelResync = 3 * time.Second

// crdsWithShortResync reads the project's CRDs and lowers the floor of
// spec.resyncInterval to one second, for this suite's API server only.
func crdsWithShortResync() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	opts := envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfPathMissing: true}
	if err := envtest.ReadCRDFiles(&opts); err != nil {
		return nil, err
	}
	lowered := 0
	for _, crd := range opts.CRDs {
		for i := range crd.Spec.Versions {
			s := crd.Spec.Versions[i].Schema
			if s == nil || s.OpenAPIV3Schema == nil {
				continue
			}
			field, ok := s.OpenAPIV3Schema.Properties["spec"].Properties["resyncInterval"]
			if !ok {
				continue
			}
			for j, v := range field.XValidations {
				if strings.Contains(v.Rule, "duration('30s')") {
					field.XValidations[j].Rule = strings.Replace(v.Rule, "duration('30s')", "duration('1s')", 1)
					lowered++
				}
			}
			spec := s.OpenAPIV3Schema.Properties["spec"]
			spec.Properties["resyncInterval"] = field
			s.OpenAPIV3Schema.Properties["spec"] = spec
		}
	}
	if lowered == 0 {
		return nil, fmt.Errorf("no resyncInterval floor of 30s found in the CRDs: update crdsWithShortResync")
	}
	return opts.CRDs, nil
}
