package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// app is a small command: a shared group (one setting with a variable
// older than the prefix rule), its own options, and a setting it only
// accepts.
type app struct {
	size  int
	addr  string
	on    bool
	wait  time.Duration
	k     int
	data  string
	other string
}

func (a *app) set() *Set {
	shared := Group{Name: "Shared", Settings: []Setting{
		{Flag: "size", Help: "how many", Value: Int(&a.size, 5, 1, 10), Recorded: "a new value needs a new state"},
		{Flag: "addr", Env: "APP_OLD_ADDR", Help: "where", Value: String(&a.addr, "here", "an address"), Check: func() error {
			if a.addr == "nowhere" {
				return errors.New("must be somewhere")
			}
			return nil
		}},
		{Flag: "on", Help: "switch", Value: Bool(&a.on, false)},
		{Flag: "wait", Help: "pause", Value: Duration(&a.wait, time.Minute, 0)},
	}}
	own := Group{Name: "Own", FlagsOnly: true, Settings: []Setting{
		{Flag: "k", Help: "per run", Value: Int(&a.k, 3, 1, 100)},
		{Flag: "data", Help: "input", Value: String(&a.data, "", "a file"), Required: true},
	}}
	other := Group{Name: "Other", Settings: []Setting{{Flag: "other", Help: "not read", Value: String(&a.other, "o", "any text")}}}
	return New("app", "APP", []Group{shared, own}, other)
}

func parse(t *testing.T, env map[string]string, args ...string) (*app, error) {
	t.Helper()
	for _, k := range []string{"APP_SIZE", "APP_ADDR", "APP_OLD_ADDR", "APP_ON", "APP_WAIT", "APP_K", "APP_DATA", "APP_OTHER"} {
		t.Setenv(k, env[k])
	}
	a := &app{}
	return a, a.set().Parse(args)
}

func TestFlagsThenEnvironmentThenDefault(t *testing.T) {
	a, err := parse(t, nil, "-data", "d")
	if err != nil || a.size != 5 || a.addr != "here" || a.on || a.wait != time.Minute || a.k != 3 {
		t.Fatalf("defaults: %+v, %v", a, err)
	}
	// Single-dash long flags, as package flag reads them, and double dashes.
	a, err = parse(t, nil, "-size", "7", "--addr=there", "-on", "-wait", "2s", "-k=9", "-data", "d", "rest")
	if err != nil || a.size != 7 || a.addr != "there" || !a.on || a.wait != 2*time.Second || a.k != 9 {
		t.Fatalf("flags: %+v, %v", a, err)
	}
	// -name= is an empty value, as package flag reads it.
	if a, err = parse(t, nil, "-size", "2", "-addr=", "-data", "d"); err != nil || a.addr != "" || a.data != "d" {
		t.Fatalf("-addr=: %+v, %v", a, err)
	}
	env := map[string]string{"APP_SIZE": "8", "APP_OLD_ADDR": "old", "APP_ON": "true", "APP_WAIT": "1h"}
	if a, err = parse(t, env, "-data", "d"); err != nil || a.size != 8 || a.addr != "old" || !a.on || a.wait != time.Hour {
		t.Fatalf("environment: %+v, %v", a, err)
	}
	if a, err = parse(t, env, "-data", "d", "-size", "2"); err != nil || a.size != 2 || a.addr != "old" {
		t.Fatalf("a flag beats its variable: %+v, %v", a, err)
	}
	// Only declared variables are read: not the rule's name for a setting
	// declared with an older one, not the options of one run, not the
	// settings the command only accepts. An empty variable is unset.
	env = map[string]string{"APP_ADDR": "rule", "APP_K": "50", "APP_DATA": "d", "APP_OTHER": "x", "APP_SIZE": ""}
	a, err = parse(t, env, "-data", "d", "-other", "given")
	if err != nil || a.addr != "here" || a.k != 3 || a.other != "given" || a.size != 5 {
		t.Fatalf("undeclared variables: %+v, %v", a, err)
	}
}

func TestMistakesAreOneLineNamingTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flag out of range", nil, []string{"-size", "11"}, `-size "11": want an integer from 1 to 10`},
		{"flag does not parse", nil, []string{"-wait", "soon"}, `-wait "soon": want a duration such as 30s or 1h, 0 or more`},
		{"variable out of range", map[string]string{"APP_SIZE": "0"}, nil, `APP_SIZE="0": want an integer from 1 to 10`},
		{"older variable", map[string]string{"APP_ON": "maybe"}, nil, `APP_ON="maybe": want true or false`},
		{"unknown flag", nil, []string{"-nope"}, `unknown flag "nope"`},
		{"flag without its value", nil, []string{"-data", "d", "-size"}, "-size needs a value: an integer from 1 to 10"},
		{"missing required", nil, nil, "-data is required: input"},
		{"check, by flag", nil, []string{"-addr", "nowhere"}, `-addr "nowhere": must be somewhere`},
		{"check, by variable", map[string]string{"APP_OLD_ADDR": "nowhere"}, nil, `APP_OLD_ADDR "nowhere": must be somewhere`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.name != "missing required" && tc.name != "flag without its value" {
				args = append([]string{"-data", "d"}, args...)
			}
			_, err := parse(t, tc.env, args...)
			var fix *Error
			if !errors.As(err, &fix) || fix.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := parse(t, nil, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestHelpShowsWhatTheCommandReads(t *testing.T) {
	var w bytes.Buffer
	(&app{}).set().WriteHelp(&w)
	help := w.String()
	for _, want := range []string{"Own:\n  -k int\n        per run\n        (valid: an integer from 1 to 100; default: 3)\n",
		"(valid: an address; default: here; env: APP_OLD_ADDR)", "(required; valid: a file)", "default: 1m;",
		"(valid: an integer from 1 to 10; default: 5; env: APP_SIZE; recorded with the state: a new value needs a new state)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Index(help, "Own:") > strings.Index(help, "Shared:") {
		t.Error("the command's own options come first")
	}
	if strings.Contains(help, "-other") {
		t.Error("a setting the command only accepts is not in its help")
	}
}

func TestOnlyAndDefaultsRefuseMistakesInDeclarations(t *testing.T) {
	var n, m int
	g := Group{Name: "G", Settings: []Setting{{Flag: "n", Value: Int(&n, 1, 0, 9)}, {Flag: "m", Value: Int(&m, 2, 0, 9)}}}
	if only := g.Only(&m); len(only.Settings) != 1 || only.Settings[0].Flag != "m" {
		t.Fatalf("Only(&m): %+v", only.Settings)
	}
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", what)
			}
		}()
		f()
	}
	var other int
	mustPanic("Only with a variable of no setting", func() { g.Only(&other) })
	mustPanic("a default out of range", func() {
		Defaults(Group{Settings: []Setting{{Flag: "x", Value: Int(&other, 20, 0, 9)}}})
	})
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", time.Minute: "1m",
		10 * time.Second: "10s", 20 * time.Millisecond: "20ms", 0: "0s", time.Hour + time.Second: "1h0m1s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func TestGivenTellsAValueFromItsDefault(t *testing.T) {
	for _, k := range []string{"APP_SIZE", "APP_OLD_ADDR", "APP_WAIT"} {
		t.Setenv(k, "")
	}
	t.Setenv("APP_OLD_ADDR", "there")
	a := &app{}
	set := a.set()
	// -size given at its default value is still given.
	if err := set.Parse([]string{"-size", "5", "-data", "d", "-other", "x"}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		target      any
		reads, want bool
	}{
		"flag at the default value": {&a.size, true, true},
		"environment":               {&a.addr, true, true},
		"left at its default":       {&a.wait, true, false},
		"accepted, not read":        {&a.other, false, true},
	} {
		if got := set.Reads(c.target); got != c.reads {
			t.Errorf("%s: Reads = %v, want %v", name, got, c.reads)
		}
		if got := set.Given(c.target); got != c.want {
			t.Errorf("%s: Given = %v, want %v", name, got, c.want)
		}
	}
	if set.Reads(new(int)) || set.Given(new(int)) {
		t.Error("a variable of no setting is read or given")
	}
}
