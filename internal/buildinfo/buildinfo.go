// Package buildinfo says which build of alsobought is running: its version,
// Git commit and the commit's time, and Go version, read from the build
// information the Go toolchain embeds in every binary (debug.ReadBuildInfo),
// so that `alsobought version` and the alsobought_build_info metric agree
// without anything passed at build time.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Info identifies a build. Empty fields are unknown: a binary built outside
// a Git checkout (or with -buildvcs=false) has no commit.
type Info struct {
	Version   string // the module's version: a tag, a pseudo-version, or "(devel)"
	Commit    string // the Git commit the binary was built from
	Modified  bool   // built from a checkout with uncommitted changes
	GoVersion string
	// CommitTime is the commit's time. Go records no build time, and a
	// build time would make two builds of one commit differ; the commit's
	// time says how old the code is, which is what on-call asks.
	CommitTime time.Time
}

// Read returns this binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(unknown)"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		case "vcs.time":
			in.CommitTime, _ = time.Parse(time.RFC3339, s.Value) // zero when absent or malformed: unknown
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	return in
}

// ShortCommit is the commit's first 12 characters, with "+dirty" when the
// checkout had uncommitted changes; "unknown" without a commit.
func (in Info) ShortCommit() string {
	c := in.Commit
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if in.Modified {
		c += "+dirty"
	}
	return c
}

// String is the one line `alsobought version` prints.
func (in Info) String() string {
	s := fmt.Sprintf("alsobought %s, commit %s", in.Version, in.ShortCommit())
	if !in.CommitTime.IsZero() {
		s += " of " + in.CommitTime.UTC().Format(time.RFC3339)
	}
	return s + ", " + in.GoVersion
}

// Register adds the alsobought_build_info gauge to reg: always 1, with the
// build in its labels, so that a dashboard or an alert can tell which
// build each instance runs (join on instance).
func Register(reg prometheus.Registerer, in Info) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "alsobought", Name: "build_info",
		Help: "The running build: version, Git commit (+dirty when built from uncommitted changes), Go version. Always 1."},
		[]string{"version", "commit", "goversion"})
	g.WithLabelValues(in.Version, in.ShortCommit(), in.GoVersion).Set(1)
	reg.MustRegister(g)
}
