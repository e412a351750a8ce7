package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Chromium runs headless Chromium (Debian's chromium;
// deploy/local/ensure-chromium.sh, run by make test, installs it), one
// process per page.
type Chromium struct {
	path, profile string
	// Version is what the browser says it is.
	Version string
	// Runs counts the pages rendered.
	Runs int
}

// NewChromium finds the browser (ALSOBOUGHT_CHROMIUM, default chromium),
// or skips; under ALSOBOUGHT_REQUIRE_SERVICES=1 it fails instead.
func NewChromium(t testing.TB) *Chromium {
	t.Helper()
	Integration(t, "headless Chromium")
	name := os.Getenv("ALSOBOUGHT_CHROMIUM")
	if name == "" {
		name = "chromium"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		Need(t, "needs %s: deploy/local/ensure-chromium.sh (run by make test) installs Debian's chromium", name)
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", path, err)
	}
	return &Chromium{path: path, Version: strings.TrimSpace(string(out)), profile: t.TempDir()}
}

func (c *Chromium) run(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// --no-sandbox: make test runs as root in containers, where the sandbox cannot start.
	cmd := exec.CommandContext(ctx, c.path, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + c.profile}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", c.path, strings.Join(args, " "), err, stderr.String())
	}
	c.Runs++
	return stdout.Bytes()
}

// DumpDOM returns the DOM of the page at u, serialized after it loaded.
func (c *Chromium) DumpDOM(t testing.TB, u string) string {
	t.Helper()
	return string(c.run(t, "--dump-dom", u))
}

// Screenshot writes a PNG of the page at u as a window of w×h shows it.
func (c *Chromium) Screenshot(t testing.TB, u, file string, w, h int) {
	t.Helper()
	c.run(t, "--screenshot="+file, fmt.Sprintf("--window-size=%d,%d", w, h), u)
}

var (
	htmlTags   = regexp.MustCompile(`<[^>]*>`)
	htmlSpaces = regexp.MustCompile(`\s+`)
)

// HTMLBetween returns the part of html from the first from to the next to
// after it, "" when from is missing: one card or row of a page.
func HTMLBetween(html, from, to string) string {
	i := strings.Index(html, from)
	if i < 0 {
		return ""
	}
	html = html[i:]
	if j := strings.Index(html, to); j >= 0 {
		return html[:j]
	}
	return html
}

// HTMLText is the text of HTML: tags removed, the common entities decoded,
// runs of white space made one space.
func HTMLText(html string) string {
	s := htmlTags.ReplaceAllString(html, " ")
	s = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&nbsp;", " ").Replace(s)
	return strings.TrimSpace(htmlSpaces.ReplaceAllString(s, " "))
}
