// Command alsobought is the streaming item-to-item recommender: one binary
// with subcommands for the service, its data tools and its checks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/lag"
)

// command is one subcommand.
type command struct {
	summary string
	args    string // the arguments after the flags, for help; "" for none
	about   string // more help, when the summary is not enough
	exits   string // the exit statuses, when they are not 0, 1 and 2 (usage)
	new     func() runner
	// usageExit is the exit status of a usage error, 2 (docs/configuration.md).
	usageExit int
}

// A runner is a command's options and work: settings lists the groups of
// settings it reads, the shared ones from s and its own, and run does the
// work once they are read.
type runner interface {
	settings(s *settings) []config.Group
	run(ctx context.Context, s *settings, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve":   {summary: "consume events, keep lists fresh, serve the HTTP API", new: func() runner { return &serveCmd{} }},
	"replay":  {summary: "publish a data set to the events topic in (time, line) order", new: func() runner { return &replayCmd{} }},
	"rescore": {summary: "recompute related lists (--all, or the given items)", args: "[ITEM...]", new: func() runner { return &rescoreCmd{} }},
	"related": {summary: "print an item's related list from Redis", args: "ITEM", new: func() runner { return &relatedCmd{} }},
	"verify":  {summary: "compare the state in Redis with the batch oracle built from a data set", new: func() runner { return &verifyCmd{} }},
	"catalogue": {summary: "publish a product feed to the catalogue topic, or show what the catalogue says about an item", args: "load FILE | show ITEM",
		about: catalogueAbout, new: func() runner { return &catalogueCmd{} }},
	"forget": {summary: "erase customers from the state on request, with everything they contributed", args: "CUSTOMER...",
		about: forgetAbout, new: func() runner { return &forgetCmd{} }},
	"bootstrap": {summary: "load the state computed from a data set into an empty Redis", new: func() runner { return &bootstrapCmd{} }},
	"loadtest":  {summary: "measure latency and throughput of the recommendation endpoints of a running serve", about: loadtestAbout, new: func() runner { return &loadtestCmd{} }},
	"bench": {summary: "measure the pipeline end to end on a fresh topic and prefix: events/s, cost per event, freshness, memory", args: "[GROWTH.json...]",
		new: func() runner { return &benchCmd{} }},
	"deadletters": {summary: "list the dead-letter topic's records, or publish chosen ones again after a fix", args: "list | republish [PARTITION:OFFSET...]",
		about: deadlettersAbout, new: func() runner { return &deadlettersCmd{} }},
	"version": {summary: "print this build's version, Git commit and Go version", new: func() runner { return &versionCmd{} }},
	"eval":    {summary: "measure recommendation quality on a data set (temporal split, every method, HR@k)", new: func() runner { return &evalCmd{} }},
	// lag follows the monitoring-plugin convention: 2 means ERR and pages
	// someone, so a usage error is 3, UNKNOWN.
	"lag": {summary: "print the consumer group's lag status per partition; exit 0 OK, 1 WARN, 2 ERR, 3 unknown",
		exits: "0 OK, 1 WARN, 2 ERR, 3 UNKNOWN (could not evaluate, or a usage error)",
		new:   func() runner { return &lagCmd{} }, usageExit: int(lag.Unknown)},
}

// exitError carries a specific exit status.
type exitError struct {
	code  int
	msg   string
	usage bool   // a mistake in the command line or the environment
	cmd   string // the command whose help the usage hint names
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a mistake in the command line: exit 2, and a hint to -h.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...), usage: true}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode reports err on stderr, in one line (and a hint for a usage
// error), and returns the exit status: 0 success, 1 failure, 2 usage
// error, and lag's own (docs/configuration.md, "Exit codes").
func exitCode(err error, stderr io.Writer) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		prog := "alsobought"
		if ee.cmd != "" {
			prog += " " + ee.cmd
		}
		if ee.msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", prog, ee.msg)
		}
		if ee.usage && ee.msg != "" {
			fmt.Fprintf(stderr, "run '%s -h' for help\n", prog)
		}
		return ee.code
	default:
		fmt.Fprintln(stderr, "alsobought:", err)
		return 1
	}
}

// run parses the command's settings, then runs it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	quietRedis.Do(func() { redis.SetLogger(discardRedisLog{}) })
	if len(args) == 0 {
		usage(stderr)
		return &exitError{code: 2, usage: true}
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 { // help <command>
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return nil
	}
	cmd, ok := commands[name]
	if !ok {
		return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q", name), usage: true}
	}
	err := cmd.run(ctx, name, args[1:], stdout, stderr)
	if ee := (*exitError)(nil); errors.As(err, &ee) && ee.usage {
		ee.cmd = name
		if cmd.usageExit != 0 {
			ee.code = cmd.usageExit
		}
	}
	return err
}

func (c command) run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	s, r := newSettings(), c.new()
	set := c.set(name, s, r)
	switch err := set.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		c.help(stdout, name, set)
		return nil
	case err != nil:
		return usageErr("%v", err)
	}
	if c.args == "" && len(set.Args()) > 0 {
		return usageErr("unexpected argument %q: the flags come first, and %s takes no arguments", set.Args()[0], name)
	}
	for _, note := range s.defaultAddressNotes(set) {
		if set.Reads(&s.logFormat) { // serve: one log line, in the log's format
			l := newLogger(s, stderr)
			l.Warn().Msg(note)
		} else {
			fmt.Fprintf(stderr, "alsobought %s: %s\n", name, note)
		}
	}
	return r.run(ctx, s, set.Args(), stdout, stderr)
}

// set is the command's settings: those it reads, and the other shared ones,
// whose flags every command accepts (and ignores) so that one set of flags
// serves every command, as one environment does.
func (c command) set(name string, s *settings, r runner) *config.Set {
	return config.New("alsobought "+name, envPrefix, r.settings(s), s.all()...)
}

func (c command) help(w io.Writer, name string, set *config.Set) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("alsobought "+name+" [flags] "+c.args), c.summary)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s", c.about)
	}
	set.WriteHelp(w)
	exits := c.exits
	if exits == "" {
		exits = "0 done, 1 failed, 2 usage error"
	}
	fmt.Fprintf(w, "\nA flag beats its environment variable, which beats the default. The flags of the other\n"+
		"shared settings are accepted and ignored. Exit status: %s (docs/configuration.md).\n", exits)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: alsobought <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'alsobought <command> -h' for the settings it reads, with their environment variables (docs/configuration.md).")
}

// newLogger builds the one logger the components derive theirs from.
func newLogger(s *settings, w io.Writer) zerolog.Logger {
	if s.logFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true} // plain text: it also goes to log files (make run)
	}
	level, _ := zerolog.ParseLevel(s.logLevel) // checked as it was read
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// quietRedis silences go-redis's own log lines (one per failed dial, on
// stderr, unstructured): the components report Redis failures themselves,
// once, with context, and count them in alsobought_redis_errors_total.
var quietRedis sync.Once

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}
