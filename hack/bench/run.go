package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// The rows of the base sequence share the bindings of P3m, the manager's
// history and its memory readings, so naming any of them runs them all (and
// P3m before them). The persona rows run on their own.
var (
	baseRows    = []string{"P1", "P2", "P3b", "P4", "P4b", "P4c", "P5", "P6", "P6b", "P7"}
	personaRows = []string{"P3", "P3m", "P8", "P9", "P10", "P11"}
)

// selection is what the flags ask of a run: which rows, at what size.
type selection struct {
	only  map[string]bool // empty: every row
	scale float64
}

func parseSelection(only string, scale float64) (selection, error) {
	s := selection{only: map[string]bool{}, scale: scale}
	for id := range strings.SplitSeq(only, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if !slices.Contains(baseRows, id) && !slices.Contains(personaRows, id) {
			return s, fmt.Errorf("--only: no row %q; the rows are %s", id, strings.Join(slices.Concat(baseRows, personaRows), ", "))
		}
		s.only[id] = true
	}
	// The base rows' targets are tied to their sizes (60 MiB at 1,000
	// bindings, a 10,000-binding P6), so only the persona rows scale.
	if scale <= 0 || (scale != 1 && (len(s.only) == 0 || s.want(baseRows...))) {
		return s, fmt.Errorf("--scale %g: a positive factor, for runs whose --only names only %s", scale, strings.Join(personaRows, ", "))
	}
	return s, nil
}

// want reports whether any of the rows is to be measured.
func (s selection) want(ids ...string) bool {
	if len(s.only) == 0 {
		return true
	}
	return slices.ContainsFunc(ids, func(id string) bool { return s.only[id] })
}

// partial reports a run that is not the full benchmark: its table is not
// the one docs/benchmarks.md should hold.
func (s selection) partial() bool { return len(s.only) > 0 || s.scale != 1 }

// scaled is n bindings (or personas) at the run's scale.
func (s selection) scaled(n int) int { return max(1, int(math.Round(float64(n)*s.scale))) }

// bench is one run: the harness, the selection and the rows measured.
type bench struct {
	*harness
	selection
	rows []row
	// rss0 and rss1000 are the idle manager's memory with no bindings and
	// with P3m's 1,000: read early in the base sequence, reported by P6.
	rss0, rss1000 float64
	// warm is set once the API server has served a first floor.
	warm bool
}

// add keeps a row the selection asks for, and prints it as it comes.
func (b *bench) add(r row) {
	if !b.want(r.id) {
		return
	}
	b.rows = append(b.rows, r)
	fmt.Fprintf(os.Stderr, "%s %s: %s (target %s)\n", r.id, r.figure, r.value, r.target)
}

// thousands writes n with thousands separators, as the figures name sizes.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
