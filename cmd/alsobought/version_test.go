package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// `alsobought version` says which build runs, as a line and as JSON; both
// name the same Go version.
func TestVersionCommand(t *testing.T) {
	var line, js bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &line, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"version", "-json"}, &js, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", js.String(), err)
	}
	if got.Version == "" || !strings.HasPrefix(got.GoVersion, "go") {
		t.Errorf("version -json = %s", js.String())
	}
	if want := "alsobought " + got.Version + ", commit "; !strings.HasPrefix(line.String(), want) || !strings.HasSuffix(strings.TrimSpace(line.String()), got.GoVersion) {
		t.Errorf("version = %q, want %q... %s", line.String(), want, got.GoVersion)
	}
}
