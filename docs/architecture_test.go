// Package docs_test keeps docs/ARCHITECTURE.md true to the code: its package
// table and its import graph are generated from `go list`, and the import
// direction it describes is enforced here.
//
// After a change to the packages or their imports, regenerate with
//
//	go test ./docs -update
package docs_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated blocks of docs/ARCHITECTURE.md")

const module = "github.com/alsobought/alsobought"

// pkg is what `go list -json` says about one package.
type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

// listPackages returns the module's packages, without test-only ones.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		if len(p.GoFiles) == 0 {
			continue // a folder with tests only (e2e, docs, deploy/k8s)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func short(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func internalImports(p pkg) []string {
	var out []string
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, module+"/") {
			out = append(out, short(imp))
		}
	}
	slices.Sort(out)
	return out
}

// packageTable is the generated table: each package with the first sentence
// of its package comment.
func packageTable(pkgs []pkg) string {
	var b strings.Builder
	b.WriteString("| package | its one job (from its package comment) |\n|---|---|\n")
	for _, p := range pkgs {
		doc := p.Doc
		if doc == "" {
			doc = "(no package comment)"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", short(p.ImportPath), strings.ReplaceAll(doc, "|", "\\|"))
	}
	return b.String()
}

// importGraph is the generated graph: importer ──► imported, module-internal
// and non-test imports only.
func importGraph(pkgs []pkg) string {
	var b strings.Builder
	b.WriteString("```\n")
	width := 0
	for _, p := range pkgs {
		width = max(width, len(short(p.ImportPath)))
	}
	for _, p := range pkgs {
		imps := internalImports(p)
		if len(imps) == 0 {
			imps = []string{"(none)"}
		}
		fmt.Fprintf(&b, "%-*s ──► %s\n", width, short(p.ImportPath), strings.Join(imps, ", "))
	}
	b.WriteString("```\n")
	return b.String()
}

// TestArchitectureDocIsGenerated checks the generated blocks of
// ARCHITECTURE.md against the code, and rewrites them under -update.
func TestArchitectureDocIsGenerated(t *testing.T) {
	pkgs := listPackages(t)
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	got := string(doc)
	// Replace each block's body between its markers.
	want := got
	for _, block := range []struct{ name, text string }{
		{"packages", packageTable(pkgs)},
		{"imports", importGraph(pkgs)},
	} {
		re := regexp.MustCompile(`(?s)(<!-- generated: ` + block.name + ` [^>]*-->\n).*?(<!-- end generated -->)`)
		if !re.MatchString(want) {
			t.Fatalf("ARCHITECTURE.md has no block <!-- generated: %s ... --> ... <!-- end generated -->", block.name)
		}
		want = re.ReplaceAllStringFunc(want, func(m string) string {
			sub := re.FindStringSubmatch(m)
			return sub[1] + block.text + sub[2]
		})
	}
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile("ARCHITECTURE.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/ARCHITECTURE.md is out of date with the code: run `go test ./docs -update` and review the diff")
}

// layer places every package: an import may point to its own layer or a
// lower one, never up. A new package gets a layer here (the test says so).
func layer(name string) (int, bool) {
	switch {
	case name == "event" || name == "scoring" || name == "internal/delta" ||
		name == "internal/obs" || name == "internal/kafkaadmin" || name == "internal/kafkaconn" ||
		name == "internal/tlsfiles" || strings.HasPrefix(name, "store/"):
		return 0, true // pure or leaf: contracts, math, shared metrics, connection settings, broker admin
	case name == "store":
		return 1, true
	case name == "consumer" || strings.HasPrefix(name, "internal/") && !strings.HasPrefix(name, "internal/lab/") && name != "internal/testenv":
		return 2, true // the service
	case strings.HasPrefix(name, "internal/lab/") || name == "internal/testenv":
		return 3, true // tools around the service, and the tests' services
	case strings.HasPrefix(name, "cmd/"):
		return 4, true
	}
	return 0, false
}

// TestImportsPointDown enforces the layering ARCHITECTURE.md describes:
// nothing imports cmd; only cmd, the lab and the tests' helpers (testenv)
// import the lab; the pure packages (the contracts and the math) link no Kafka or
// Redis client.
func TestImportsPointDown(t *testing.T) {
	pure := []string{"event", "scoring", "internal/delta", "store/schema"}
	clients := []string{"github.com/segmentio/kafka-go", "github.com/redis/go-redis/v9"}
	for _, p := range listPackages(t) {
		name := short(p.ImportPath)
		rank, ok := layer(name)
		if !ok {
			t.Errorf("package %s has no layer: place it in layer() of docs/architecture_test.go and in ARCHITECTURE.md", name)
		}
		for _, imp := range internalImports(p) {
			if impRank, _ := layer(imp); impRank > rank {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports point down", name, rank, imp, impRank)
			}
			switch {
			case strings.HasPrefix(imp, "cmd/"):
				t.Errorf("%s imports %s: nothing imports a command", name, imp)
			case strings.HasPrefix(imp, "internal/lab/") && !strings.HasPrefix(name, "internal/lab/") && !strings.HasPrefix(name, "cmd/") && name != "internal/testenv":
				t.Errorf("%s imports %s: the service never depends on the lab tools", name, imp)
			}
		}
		if slices.Contains(pure, name) {
			for _, dep := range p.Deps {
				for _, c := range clients {
					if dep == c {
						t.Errorf("%s depends on %s: it must stay pure (no Kafka or Redis client)", name, c)
					}
				}
			}
		}
	}
}

// TestTopLevelStaysSmall keeps the folder list a map of the architecture.
func TestTopLevelStaysSmall(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "bin" {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) > 11 {
		t.Errorf("%d top-level folders (%s): keep the top level to the architecture (about 10); put support packages under internal/", len(dirs), strings.Join(dirs, ", "))
	}
	for _, required := range []string{"cmd", "consumer", "scoring", "store", "deploy"} {
		if _, err := os.Stat(filepath.Join("..", required)); err != nil {
			t.Errorf("required top-level folder %s: %v", required, err)
		}
	}
}
