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
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve":     {"consume events, keep lists fresh, serve the HTTP API", runServe},
	"replay":    {"publish a data set to the events topic in (time, line) order", runReplay},
	"rescore":   {"recompute related lists (--all, or the given items)", runRescore},
	"related":   {"print an item's related list from Redis", runRelated},
	"verify":    {"compare the state in Redis with the batch oracle built from a data set", runVerify},
	"bootstrap": {"load the state computed from a data set into an empty Redis", runBootstrap},
	"loadtest":  {"measure latency and throughput of the recommendation endpoints of a running serve", runLoadtest},
	"bench":     {"measure the pipeline end to end on a fresh topic and prefix: events/s, cost per event, freshness, memory", runBench},
	"eval":      {"measure recommendation quality on a data set (temporal split, every method, HR@k)", runEval},
	"lag":       {"print the consumer group's lag status per partition; exit 0 OK, 1 WARN, 2 ERR, 3 unknown", runLag},
}

// errUsage marks errors already explained by a usage message.
var errUsage = errors.New("usage")

// exitError carries a specific exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "alsobought:", ee.msg)
		}
		os.Exit(ee.code)
	case errors.Is(err, flag.ErrHelp):
		// -h printed the flags, as asked.
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "alsobought:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	quietRedis.Do(func() { redis.SetLogger(discardRedisLog{}) })
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "alsobought: unknown command %q\n\n", args[0])
		usage(stderr)
		return errUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
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
	fmt.Fprintln(w, "\nRun 'alsobought <command> -h' for its flags. Every flag can also be set by the environment variable named in its help.")
}

// parse parses a subcommand's flags, then validates the shared settings.
func parse(fs *flag.FlagSet, s *settings, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	return nil
}

// newLogger builds the one logger the components derive theirs from.
func newLogger(s *settings, w io.Writer) zerolog.Logger {
	if s.logFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true} // plain text: it also goes to log files (make run)
	}
	level, _ := zerolog.ParseLevel(s.logLevel) // validated by settings.validate
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// quietRedis silences go-redis's own log lines (one per failed dial, on
// stderr, unstructured): the components report Redis failures themselves,
// once, with context, and count them in alsobought_redis_errors_total.
var quietRedis sync.Once

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}
