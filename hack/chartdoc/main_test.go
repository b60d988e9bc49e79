package main

import (
	"strings"
	"testing"
)

func TestEveryValueIsDocumented(t *testing.T) {
	rows, err := documented([]byte(`# The chart's values.

image:
  # -- The manager's image.
  repository: ghcr.io/x/y
# Section heading, not part of the next comment.
# -- Replicas of the manager,
# two for a standby.
replicaCount: 2
# -- The container's resources.
resources:
  limits: {memory: 256Mi}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{key: "image.repository", kind: "string", def: "`\"ghcr.io/x/y\"`", doc: "The manager's image."},
		{key: "replicaCount", kind: "int", def: "`2`", doc: "Replicas of the manager, two for a standby."},
		{key: "resources", kind: "object", def: "`{\"limits\":{\"memory\":\"256Mi\"}}`", doc: "The container's resources."},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}

	_, err = documented([]byte("image:\n  # a comment without the marker\n  tag: \"\"\nport: 8443\n"))
	if err == nil || !strings.Contains(err.Error(), "image.tag, port") {
		t.Fatalf("undocumented values: error %v, want one naming image.tag and port", err)
	}
}
