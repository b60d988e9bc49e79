package preview

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bland-operator/bland-operator/internal/persona"
)

// TextOptions shape the text form.
type TextOptions struct {
	Color         bool
	ShowUnchanged bool
	Now           time.Time
}

const (
	green  = "\x1b[32m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	reset  = "\x1b[0m"
)

// WriteText writes the report in Terraform's manner: one mark per change,
// grouped by persona and binding, and a last line that counts them.
func WriteText(w io.Writer, rep Report, o TextOptions) error {
	paint := func(color, s string) string {
		if !o.Color {
			return s
		}
		return color + s + reset
	}
	var b strings.Builder
	for _, p := range rep.Personas {
		fmt.Fprintf(&b, "%s: %s\n", persona.TargetName(p.ID), describeSource(p, o.Now))
		for _, br := range p.Bindings {
			if !br.Changes && !o.ShowUnchanged {
				continue
			}
			label := "unchanged"
			switch {
			case br.New:
				label = "new"
			case br.Deleted:
				label = "deleted"
			case br.Proposed:
				label = "changed"
			case br.AlreadyStalled:
				label = "already stalled, unchanged by this plan"
			case br.Changes:
				label = "affected"
			}
			fmt.Fprintf(&b, "  %s%s/%s (%s, generation %d)\n", kindPrefix(br.Kind), br.Namespace, br.Name, label, br.Generation)
			for _, c := range br.Spec {
				fmt.Fprintf(&b, "    %s %s %s -> %s\n", paint(yellow, "~"), c.Field, c.From, c.To)
			}
			for _, n := range br.Attach {
				fmt.Fprintf(&b, "    %s attach %s\n", paint(green, "+"), n)
			}
			for _, n := range br.Detach {
				fmt.Fprintf(&b, "    %s detach %s\n", paint(red, "-"), n)
			}
			for _, s := range br.Settings {
				fmt.Fprintf(&b, "    %s settings %s: %s -> %s\n", paint(yellow, "~"), s.Number, settings(s.From), settings(s.To))
			}
			for _, h := range br.HandoverOut {
				fmt.Fprintf(&b, "    %s handover %s to %s (no call)\n", paint(cyan, ">"), h.Number, h.Binding)
			}
			for _, h := range br.HandoverIn {
				fmt.Fprintf(&b, "    %s handover %s from %s (no call)\n", paint(cyan, "<"), h.Number, h.Binding)
			}
			for _, h := range br.MovedOut {
				fmt.Fprintf(&b, "    %s moves %s to %s: its attach takes it, no detach\n", paint(cyan, ">"), h.Number, persona.Named(h.Binding))
			}
			if g := br.Guard; g != nil {
				fmt.Fprintf(&b, "    %s guard: %d detaches (%s) over the detach limit of %d wait for approval: %s\n",
					paint(red, "!"), len(g.Numbers), persona.List(g.Numbers), g.Limit, g.Approval)
			}
			for _, n := range sortedKeys(br.Conflicts) {
				fmt.Fprintf(&b, "    %s conflict: %s is held by older %s\n", paint(red, "!"), n, persona.Named(br.Conflicts[n]))
			}
			fmt.Fprintf(&b, "    = Ready %s %s: %s\n", br.Ready.Status, br.Ready.Reason, br.Ready.Message)
		}
	}
	s := rep.Summary
	fmt.Fprintf(&b, "Plan: %d bindings to change, %d to attach, %d to detach, %d settings, %d handovers; %d Bland calls",
		s.Changed, s.Attach, s.Detach, s.Settings, s.Handovers, s.Calls)
	if s.Stalls > 0 {
		fmt.Fprintf(&b, "; %d bindings would stall", s.Stalls)
	}
	if s.AlreadyStalled > 0 {
		fmt.Fprintf(&b, "; %d already stalled, unchanged by this plan", s.AlreadyStalled)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func describeSource(p PersonaReport, now time.Time) string {
	s := "planned from the bindings' records (no call to Bland)"
	if p.Source == "bland" {
		s = "planned from a fresh read of " + persona.TargetName(p.ID)
	} else if p.RecordedAt != nil && !now.IsZero() {
		s += fmt.Sprintf(", last recorded %s ago", now.Sub(*p.RecordedAt).Round(time.Second))
	}
	if p.NeedsRead {
		s += "; the operator reads " + persona.TargetName(p.ID) + " first, so drift since then would change this plan"
	}
	return fmt.Sprintf("%s; %d Bland calls", s, p.Calls)
}

// kindPrefix marks an AgentBinding's line; a PersonaBinding's has none, as
// before AgentBindings existed.
func kindPrefix(kind string) string {
	if kind == persona.KindAgentBinding {
		return "ab/"
	}
	return ""
}

func settings(s *persona.Settings) string {
	if s == nil || (s.PathwayID == "" && s.PathwayVersion == nil && s.StartNodeID == "") {
		return "(none)"
	}
	out := s.PathwayID
	if s.PathwayVersion != nil {
		out += "@" + strconv.FormatInt(*s.PathwayVersion, 10)
	} else {
		out += "@latest"
	}
	if s.StartNodeID != "" {
		out += "/" + s.StartNodeID
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
