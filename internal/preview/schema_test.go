package preview

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
)

// schemaPath is the checked-in JSON Schema of plan -o json.
var schemaPath = filepath.Join("..", "..", "docs", "plan.schema.json")

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("plan.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("plan.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// asJSON is v as a consumer parses it.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestTheJSONFormMatchesItsSchema checks the checked-in schema against a
// report with every kind of entry; that a consumer following it would
// accept an unknown field and reject another major version; and that every
// field the report can carry is described, so the two cannot drift apart.
func TestTheJSONFormMatchesItsSchema(t *testing.T) {
	schema := compileSchema(t)
	const n5, n6 = "+14155550005", "+14155550006"
	a, b, c, d := synced("a", 0, n1, n2), synced("b", 1), synced("c", 2, n3), synced("d", 3, n5, n6)
	a.Spec.NumberSettings = []v1alpha1.NumberSettings{{Number: n1, PathwaySettings: v1alpha1.PathwaySettings{PathwayID: "old"}}}
	rep := Make(Input{Live: []v1alpha1.PersonaBinding{a, b, c, d}, Proposed: []*v1alpha1.PersonaBinding{
		edited(a, func(s *v1alpha1.PersonaBindingSpec) {
			s.InboundNumbers = []string{n1}
			s.NumberSettings[0].PathwayID = "new"
		}),
		edited(b, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = []string{n1, n2, n3, n4} }),
		edited(c, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = nil; s.DetachLimit = limit(0) }),
		edited(d, func(s *v1alpha1.PersonaBindingSpec) { s.InboundNumbers = nil; s.DetachLimit = limit(1) }),
	}, Now: epoch.Add(2 * time.Hour)})
	rep.Errors = []Rejection{{Source: "bindings/bad.yaml", Namespace: "team", Name: "e", Message: `unknown field "spec.detachLimt"`}}
	doc := asJSON(t, rep)
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("the report does not match docs/plan.schema.json: %v", err)
	}
	raw, _ := json.Marshal(rep)
	for _, want := range []string{`"handoverOut"`, `"conflicts"`, `"settings":[{`, `"attach":[`, `"guard"`, `"spec":[{`, `"errors":[{`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the sample report lacks %s, so the schema is not checked against it: %s", want, raw)
		}
	}

	extended := doc.(map[string]any)
	extended["somethingNew"] = true
	if err := schema.Validate(extended); err != nil {
		t.Errorf("an unknown field is refused, but consumers must ignore it: %v", err)
	}
	extended["formatVersion"] = "2.0"
	if err := schema.Validate(extended); err == nil {
		t.Error("formatVersion 2.0 passes the 1.x schema")
	}

	var described map[string]any
	rawSchema, _ := os.ReadFile(schemaPath)
	if err := json.Unmarshal(rawSchema, &described); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	collectProperties(described, names)
	for _, typ := range []reflect.Type{reflect.TypeOf(Report{}), reflect.TypeOf(PersonaReport{}), reflect.TypeOf(BindingReport{}),
		reflect.TypeOf(SettingsChange{}), reflect.TypeOf(Handover{}), reflect.TypeOf(Guard{}), reflect.TypeOf(Condition{}), reflect.TypeOf(Summary{}), reflect.TypeOf(Rejection{}), reflect.TypeOf(FieldChange{})} {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" && !names[name] {
				t.Errorf("%s.%s (%q) is not in docs/plan.schema.json", typ.Name(), typ.Field(i).Name, name)
			}
		}
	}
}

// collectProperties gathers every property name the schema describes.
func collectProperties(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if props, ok := x["properties"].(map[string]any); ok {
			for name := range props {
				into[name] = true
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			collectProperties(x[k], into)
		}
	case []any:
		for _, e := range x {
			collectProperties(e, into)
		}
	}
}
