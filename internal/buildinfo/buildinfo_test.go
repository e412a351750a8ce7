package buildinfo

import (
	"maps"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestInfoFromTheEmbeddedBuildInformation(t *testing.T) {
	commit := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name     string
		bi       debug.BuildInfo
		wantLine string
	}{
		{"a tagged, clean build", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: commit}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"alsobought v1.2.3, commit 0123456789ab of 2026-12-01T10:00:00Z, go1.26.0"},
		{"uncommitted changes are marked", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: commit}, {Key: "vcs.modified", Value: "true"}}},
			"alsobought (devel), commit 0123456789ab+dirty, go1.26.0"},
		{"built outside a checkout: no commit", debug.BuildInfo{GoVersion: "go1.26.0"},
			"alsobought (devel), commit unknown, go1.26.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(&tc.bi).String(); got != tc.wantLine {
				t.Errorf("got %q, want %q", got, tc.wantLine)
			}
		})
	}
	in := fromBuildInfo(&debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}}})
	if !in.CommitTime.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("commit time %v", in.CommitTime)
	}
}

func TestBuildInfoGaugeIsOneWithTheBuildInItsLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	Register(reg, Info{Version: "v1.2.3", Commit: "0123456789abcdef", GoVersion: "go1.26.0"})
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"version": "v1.2.3", "commit": "0123456789ab", "goversion": "go1.26.0"}
	if mfs[0].GetName() != "alsobought_build_info" || m.GetGauge().GetValue() != 1 || !maps.Equal(labels, want) {
		t.Errorf("got %s %v = %v, want alsobought_build_info %v = 1", mfs[0].GetName(), labels, m.GetGauge().GetValue(), want)
	}
}

// The test binary has build information too: Read never leaves the Go
// version empty.
func TestReadKnowsTheGoVersion(t *testing.T) {
	if in := Read(); !strings.HasPrefix(in.GoVersion, "go") {
		t.Errorf("Read() = %+v", in)
	}
}
