package local

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
)

// quietGrepAtPipeEnd is a pipe into grep with -q among its flags.
var quietGrepAtPipeEnd = regexp.MustCompile(`\|\s*grep\s+(-[A-Za-z]*\s+)*-[A-Za-z]*q`)

// No project script ends a pipe in grep -q (they run under pipefail, or
// are sourced by scripts that do): grep
// exits at its first match, a writer still writing dies of SIGPIPE, and
// pipefail turns the match into a failure, now and then (bash writes a
// function's lines one write each). It failed sentinel-up.sh in CI once:
// "master on port 33201, not one of (33201,33202)". Match on captured text
// instead: grep -q PATTERN <<<"$(command)", or [[ $(command) == *text* ]].
func TestNoPipeEndsInAQuietGrepUnderPipefail(t *testing.T) {
	var scripts []string
	for _, pattern := range []string{"deploy/*/*.sh", "deploy/*.sh", ".ci/*"} {
		found, err := filepath.Glob(filepath.Join(testenv.RepoFile("."), pattern))
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, found...)
	}
	if len(scripts) < 10 {
		t.Fatalf("found %d scripts (%v): the globs no longer match the layout", len(scripts), scripts)
	}
	for _, path := range scripts {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(text), "\n") {
			if code, _, _ := strings.Cut(line, " #"); !strings.HasPrefix(strings.TrimSpace(code), "#") && quietGrepAtPipeEnd.MatchString(code) {
				t.Errorf("%s:%d ends a pipe in grep -q: %s", path, i+1, strings.TrimSpace(line))
			}
		}
	}
}
