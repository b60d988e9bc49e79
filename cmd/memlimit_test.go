package main

import "testing"

func TestSoftMemoryLimitFollowsTheContainerLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		want      int64
		wantError bool
	}{
		{name: "no limit anywhere", env: map[string]string{}, want: 0},
		{name: "90% of the container limit", env: map[string]string{"MEMORY_LIMIT": "268435456"}, want: 241591910},
		{name: "GOMEMLIMIT wins", env: map[string]string{"MEMORY_LIMIT": "268435456", "GOMEMLIMIT": "100MiB"}, want: 0},
		{name: "not a number", env: map[string]string{"MEMORY_LIMIT": "256Mi"}, wantError: true},
		{name: "zero", env: map[string]string{"MEMORY_LIMIT": "0"}, wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := softMemoryLimit(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantError {
				t.Fatalf("error %v, want error %v", err, tc.wantError)
			}
			if got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
		})
	}
}
