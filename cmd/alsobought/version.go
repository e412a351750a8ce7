package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/alsobought/alsobought/internal/buildinfo"
	"github.com/alsobought/alsobought/internal/config"
)

// versionCmd prints which build this binary is (internal/buildinfo).
type versionCmd struct{ json bool }

func (c *versionCmd) settings(*settings) []config.Group {
	return []config.Group{{Name: "Version", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "json", Help: "print one JSON object instead of a line", Value: config.Bool(&c.json, false)},
	}}}
}

func (c *versionCmd) run(_ context.Context, _ *settings, _ []string, stdout, _ io.Writer) error {
	in := buildinfo.Read()
	if !c.json {
		_, err := fmt.Fprintln(stdout, in)
		return err
	}
	out := struct {
		Version    string `json:"version"`
		Commit     string `json:"commit"`
		Modified   bool   `json:"modified"`
		CommitTime string `json:"commit_time,omitempty"`
		GoVersion  string `json:"go_version"`
	}{in.Version, in.Commit, in.Modified, "", in.GoVersion}
	if !in.CommitTime.IsZero() {
		out.CommitTime = in.CommitTime.UTC().Format(time.RFC3339)
	}
	return json.NewEncoder(stdout).Encode(out)
}
