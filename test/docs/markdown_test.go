package docs

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// kind says what the runner does with an item of a page.
type kind int

const (
	// run: a fenced shell block, run as written.
	run kind = iota
	// skipped: a fenced shell block marked <!-- docs-test: skip: reason -->.
	skipped
	// setup: an HTML comment <!-- docs-test: setup: reason ... --> (or
	// check:) whose lines are commands, hidden from readers: the state a
	// page says it assumes (an installed operator, a binding named in its
	// examples), or a check that what the page claims came true.
	setup
)

// item is one block of a page, in page order.
type item struct {
	file   string
	line   int // of the fence, or of the setup comment's first line
	lang   string
	kind   kind
	reason string // of a skip or a setup
	script string
}

func (it item) where() string { return fmt.Sprintf("%s:%d", it.file, it.line) }

// shellLangs are the info strings of the fences the runner looks at.
var shellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

var (
	fenceRE = regexp.MustCompile("^( *)(```+|~~~+)\\s*([^\\s`]*)")
	skipRE  = regexp.MustCompile(`^<!--\s*docs-test:\s*skip(?::(.*?))?\s*-->$`)
	setupRE = regexp.MustCompile(`^<!--\s*docs-test:\s*(setup|check)(?::(.*))?$`)
)

const marker = "<!-- docs-test:"

// parse finds every fenced shell block of a page and every setup comment,
// with the skip marker on the line just before a fence. A marker that is
// malformed, has no reason, or stands anywhere but just before a shell
// fence is an error: a mistyped skip must not make a block run, nor a
// stray one hide a block.
func parse(file, text string) ([]item, []error) {
	lines := strings.Split(text, "\n")
	var items []item
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	usedMarker := map[int]bool{} // line index of a skip marker a fence took
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if m := setupRE.FindStringSubmatch(trimmed); m != nil {
			reason := strings.TrimSpace(m[2])
			if strings.HasSuffix(reason, "-->") {
				fail(i+1, "a %s comment holds its commands on the lines after it and closes with --> on a line of its own", m[1])
				continue
			}
			if reason == "" {
				fail(i+1, "a %s comment needs a reason: <!-- docs-test: %s: <what it does>", m[1], m[1])
			}
			reason = m[1] + ": " + reason
			start := i
			var body []string
			closed := false
			for i++; i < len(lines); i++ {
				if strings.TrimSpace(lines[i]) == "-->" {
					closed = true
					break
				}
				body = append(body, lines[i])
			}
			if !closed {
				fail(start+1, "a %s comment is never closed with a line holding only -->", m[1])
				break
			}
			items = append(items, item{file: file, line: start + 1, lang: "sh", kind: setup, reason: reason, script: strings.Join(body, "\n") + "\n"})
			continue
		}
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence, lang := len(m[1]), m[2], strings.ToLower(m[3])
		start := i
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, fence[:1]) && strings.Trim(t, fence[:1]) == "" && len(t) >= len(fence) {
				closed = true
				break
			}
			// The block's lines lose the fence's indentation (a block in a
			// list item), and no more.
			n := 0
			for n < indent && n < len(l) && l[n] == ' ' {
				n++
			}
			body = append(body, l[n:])
		}
		if !closed {
			fail(start+1, "a fence that is never closed")
			break
		}
		if !shellLangs[lang] {
			continue
		}
		it := item{file: file, line: start + 1, lang: lang, kind: run}
		if start > 0 {
			prev := strings.TrimSpace(lines[start-1])
			if strings.HasPrefix(prev, marker) {
				usedMarker[start-1] = true
				sm := skipRE.FindStringSubmatch(prev)
				switch {
				case sm == nil:
					fail(start, "unknown docs-test marker %q: the one a fence takes is <!-- docs-test: skip: <reason> -->", prev)
				case strings.TrimSpace(sm[1]) == "":
					fail(start, "a skip needs a reason: <!-- docs-test: skip: <reason> -->")
				default:
					it.kind, it.reason = skipped, strings.TrimSpace(sm[1])
				}
			}
		}
		if lang == "console" {
			script, ok := consoleCommands(body)
			if !ok {
				fail(start+1, "a console block without a `$ ` command: mark output alone as ```text")
			}
			it.script = script
		} else {
			it.script = strings.Join(body, "\n") + "\n"
		}
		items = append(items, it)
	}
	// Any other marker is one that no fence took.
	for i, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, marker) && !usedMarker[i] && !setupRE.MatchString(t) && !insideFence(lines, i) {
			fail(i+1, "a docs-test marker must stand on the line just before a shell fence")
		}
	}
	return items, errs
}

// insideFence says whether line i is inside a fenced block (a marker shown
// as an example is not one).
func insideFence(lines []string, i int) bool {
	in := ""
	for j := 0; j < i; j++ {
		t := strings.TrimSpace(lines[j])
		switch {
		case in == "" && (strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")):
			in = t[:3]
		case in != "" && strings.HasPrefix(t, in) && strings.Trim(t, in[:1]) == "":
			in = ""
		}
	}
	return in != ""
}

// consoleCommands keeps a console transcript's commands: the lines after a
// `$ ` prompt, with their `\` continuation lines. The rest is output.
func consoleCommands(body []string) (string, bool) {
	var b strings.Builder
	cont := false
	for _, l := range body {
		switch {
		case cont:
			b.WriteString(l + "\n")
		case strings.HasPrefix(l, "$ "):
			l = strings.TrimPrefix(l, "$ ")
			b.WriteString(l + "\n")
		default:
			continue
		}
		cont = strings.HasSuffix(l, "\\")
	}
	return b.String(), b.Len() > 0
}

func TestParse(t *testing.T) {
	page := strings.Join([]string{
		"# Page",
		"```sh",
		"echo one",
		"```",
		"<!-- docs-test: skip: needs a container registry -->",
		"```bash",
		"docker push x",
		"```",
		"- a list item:",
		"  ```shell",
		"  echo indented",
		"  ```",
		"<!-- docs-test: setup: a namespace the page assumes",
		"kubectl create namespace telephony",
		"-->",
		"```console",
		"$ kubectl get pb \\",
		"    -n telephony",
		"NAME   READY",
		"$ echo two",
		"two",
		"```",
		"```yaml",
		"<!-- docs-test: skip: inside a YAML example, not a marker -->",
		"```",
		"```text",
		"$ not run",
		"```",
	}, "\n")
	items, errs := parse("page.md", page)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []item{
		{file: "page.md", line: 2, lang: "sh", kind: run, script: "echo one\n"},
		{file: "page.md", line: 6, lang: "bash", kind: skipped, reason: "needs a container registry", script: "docker push x\n"},
		{file: "page.md", line: 10, lang: "shell", kind: run, script: "echo indented\n"},
		{file: "page.md", line: 13, lang: "sh", kind: setup, reason: "setup: a namespace the page assumes", script: "kubectl create namespace telephony\n"},
		{file: "page.md", line: 16, lang: "console", kind: run, script: "kubectl get pb \\\n    -n telephony\necho two\n"},
	}
	if fmt.Sprint(items) != fmt.Sprint(want) {
		t.Fatalf("parsed\n%v\nwant\n%v", items, want)
	}

	for name, bad := range map[string]string{
		"skip without a reason":            "<!-- docs-test: skip -->\n```sh\ntrue\n```\n",
		"skip with an empty one":           "<!-- docs-test: skip:   -->\n```sh\ntrue\n```\n",
		"a misspelt marker":                "<!-- docs-test: skipp: x -->\n```sh\ntrue\n```\n",
		"a marker a blank line away":       "<!-- docs-test: skip: x -->\n\n```sh\ntrue\n```\n",
		"a setup never closed":             "<!-- docs-test: setup: x\ntrue\n",
		"a setup without reason":           "<!-- docs-test: setup\ntrue\n-->\n",
		"a check without reason":           "<!-- docs-test: check:\ntrue\n-->\n",
		"a console block with only output": "```console\nNAME READY\n```\n",
	} {
		if _, errs := parse("bad.md", bad); len(errs) == 0 {
			t.Errorf("%s: no error", name)
		}
	}
}
