package docs_test

// The README and the pages under docs/ link to each other, to code and to
// deploy/, and to headings by anchor. Files move and headings get renamed
// (issue 14 moved half the README into docs/), and a broken link is only
// found by a reader who clicks it. This test resolves every relative link
// and every anchor, and the runbook anchors the status page links. It needs
// no services.

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// mdLink matches an inline Markdown link or image: [text](target) or
// [text](target "title"). Autolinks (<https://...>) are not relative.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocsLinksResolve checks every relative link of README.md, docs/*.md
// and the READMEs under deploy/: the file or folder exists, and an anchor
// names a heading of the target page.
func TestDocsLinksResolve(t *testing.T) {
	root := ".." // tests run in docs/
	pages := []string{filepath.Join(root, "README.md")}
	for _, pattern := range []string{"docs/*.md", "deploy/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, m...)
	}
	anchorsOf := map[string]map[string]bool{}
	anchors := func(path string) map[string]bool {
		if a, ok := anchorsOf[path]; ok {
			return a
		}
		a := headingAnchors(t, path)
		anchorsOf[path] = a
		return a
	}
	checked := 0
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		for _, l := range pageLinks(t, page) {
			target, frag, _ := strings.Cut(l.target, "#")
			if isExternal(target) {
				continue
			}
			checked++
			path := page
			if target != "" {
				path = filepath.Join(filepath.Dir(page), filepath.FromSlash(target))
				info, err := os.Stat(path)
				if err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist", rel, l.line, l.target, target)
					continue
				}
				if info.IsDir() || frag == "" || !strings.HasSuffix(path, ".md") {
					continue
				}
			}
			if frag != "" && !anchors(path)[frag] {
				t.Errorf("%s:%d: link %q: no heading with anchor #%s in %s", rel, l.line, l.target, frag, filepath.Base(path))
			}
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d relative links: the link pattern no longer matches the pages", checked)
	}
}

// TestHeadingAnchor pins the anchor rule the link check relies on, GitHub's:
// lower case, punctuation and symbols dropped, spaces to hyphens.
func TestHeadingAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"Lag status": "lag-status",
		"Pipeline throughput and cost (`alsobought bench`)":  "pipeline-throughput-and-cost-alsobought-bench",
		"Improving the served blend (issue 8)":               "improving-the-served-blend-issue-8",
		"10. Forgetting (bounded state)":                     "10-forgetting-bounded-state",
		"5.1 What makes exactly-once hold":                   "51-what-makes-exactly-once-hold",
		"The first step: `amazon2017_prior`, the 2017 score": "the-first-step-amazon2017_prior-the-2017-score",
		"Quiet re-run, and a fix it led to":                  "quiet-re-run-and-a-fix-it-led-to",
	} {
		if got := headingAnchor(heading); got != want {
			t.Errorf("headingAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

// runbookSection matches where internal/httpapi names a runbook section the
// status page links: a call of Runbook, in Go (v.Runbook("...")) or in the
// template ($.Runbook "..."), and any string literal of an alert's section
// (its name in lower case, "alsobought..."), as the map of counters to
// sections holds them.
var runbookSection = regexp.MustCompile(`Runbook\(?\s*"([^"]+)"|"(alsobought[a-z0-9]+)"`)

// TestStatusPageRunbookLinksResolve: the status page links the runbook
// section of whatever is not OK, as <-runbook-url>#<anchor>, and shows the
// link only then, so a broken one is found by on-call in an incident, on the
// top of the page. Every anchor that internal/httpapi (its Go code and the
// page's template) can render names a heading of docs/runbook.md.
func TestStatusPageRunbookLinksResolve(t *testing.T) {
	root := ".." // tests run in docs/
	runbook := headingAnchors(t, filepath.Join(root, "docs", "runbook.md"))
	var sources []string
	for _, pattern := range []string{"*.go", "*.html"} {
		m, err := filepath.Glob(filepath.Join(root, "internal", "httpapi", pattern))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, m...)
	}
	found := map[string]bool{}
	for _, path := range sources {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		for n, line := range strings.Split(string(b), "\n") {
			for _, m := range runbookSection.FindAllStringSubmatch(line, -1) {
				section := m[1] + m[2]
				found[section] = true
				if !runbook[section] {
					t.Errorf("%s:%d: the status page links docs/runbook.md#%s, which is no heading of the runbook", rel, n+1, section)
				}
			}
		}
	}
	// Twelve sections today: the group's statuses, readiness, the counters,
	// freshness, the re-scoring backlog, and the alert rules the page
	// evaluates itself (the catalogue's lag, the ageing sweeps).
	if len(found) < 8 {
		t.Errorf("found only %d runbook sections in internal/httpapi (%v): the pattern no longer matches how the page links them", len(found), found)
	}
}

type link struct {
	target string
	line   int
}

// pageLinks returns the links of a Markdown page outside fenced code blocks
// and inline code spans.
func pageLinks(t *testing.T, path string) []link {
	t.Helper()
	var links []link
	eachProseLine(t, path, func(n int, line string) {
		for _, m := range mdLink.FindAllStringSubmatch(stripCodeSpans(line), -1) {
			links = append(links, link{target: m[1], line: n})
		}
	})
	return links
}

// headingAnchors returns the anchors of a page's headings; a repeated
// heading gets -1, -2, ... as on GitHub.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	seen := map[string]int{}
	out := map[string]bool{}
	eachProseLine(t, path, func(_ int, line string) {
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		if hashes == 0 || hashes > 6 || !strings.HasPrefix(line[hashes:], " ") {
			return
		}
		a := headingAnchor(strings.TrimSpace(line[hashes:]))
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	})
	return out
}

func headingAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// eachProseLine calls fn with each line of a Markdown file that is not
// inside a fenced code block.
func eachProseLine(t *testing.T, path string, fn func(n int, line string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	inFence := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			fn(n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// stripCodeSpans removes `inline code`, where brackets and parentheses are
// text, not links.
func stripCodeSpans(line string) string {
	parts := strings.Split(line, "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 0 {
			b.WriteString(p)
		}
	}
	return b.String()
}

func isExternal(target string) bool {
	return strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:")
}
