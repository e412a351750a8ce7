// Package config declares a command's settings, each once (flag,
// environment variable, default, help, valid values), and reads them with
// github.com/peterbourgon/ff/v4: a flag first, then the environment, then
// the default.
//
// Why ff v4: it parses a standard library flag.FlagSet, so the single-dash
// long flags of every script and manifest (-history-size 20) keep working,
// and it reads the environment with one option (ff.WithEnvVarPrefix); it
// brings no configuration framework (viper's weight) and no further
// dependency. cobra's pflag would read -history-size as -h -i -s ... and
// break every existing command line.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/peterbourgon/ff/v4"
)

// A Setting is one option of a command.
type Setting struct {
	// Flag is the flag's name, without its dash.
	Flag string
	// Env names the environment variable when it does not follow the rule
	// (the prefix, _, then Flag in upper case with - as _): the few names
	// older than the rule. Groups with FlagsOnly have none.
	Env  string
	Help string
	// Value holds the setting, its default and its valid values.
	Value Value
	// Required: the command cannot run without a value.
	Required bool
	// Check relates the setting to others once every value is read; its
	// error says what is wrong with this setting's value.
	Check func() error
	// Shown, when set, is how error messages show a value: with the
	// secrets it may hold (a password in a URL) removed.
	Shown func(string) string
	// Recorded, when set, says that the value is recorded with the state
	// it shapes, and what another value then takes (help shows it).
	Recorded string
}

// A Group is settings of one concern (Kafka, Redis, ...). Commands use
// whole groups, or parts of them (Only).
type Group struct {
	Name string
	// Note qualifies the group in help, e.g. "with -via-kafka".
	Note string
	// FlagsOnly: options of one run of a tool, not read from the
	// environment, so a variable exported for one command cannot change
	// another (-k or -json mean different things to different commands).
	FlagsOnly bool
	Settings  []Setting
}

// Only is the part of the group whose values live in targets (pointers to
// the settings' variables, as given to the Value constructors).
func (g Group) Only(targets ...any) Group {
	out := g
	out.Settings = nil
	for _, t := range targets {
		found := false
		for _, s := range g.Settings {
			if s.Value.target() == t {
				out.Settings = append(out.Settings, s)
				found = true
			}
		}
		if !found {
			panic(fmt.Sprintf("config: group %s has no setting at %p", g.Name, t))
		}
	}
	return out
}

// Defaults sets every setting of the groups to its default.
func Defaults(groups ...Group) {
	for _, g := range groups {
		for _, s := range g.Settings {
			if err := s.Value.Set(s.Value.Default()); err != nil {
				panic(fmt.Sprintf("config: -%s: the default %q is not %s", s.Flag, s.Value.Default(), s.Value.Want()))
			}
		}
	}
}

// An Error is a setting to fix. Its message is one line naming the flag or
// the environment variable as the user gave it, the value and what is
// valid.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Set is the settings of one command.
type Set struct {
	name    string
	prefix  string
	used    []Group
	entries []*entry
	byFlag  map[string]*entry
	args    []string
}

type entry struct {
	Setting
	used    bool   // the command reads it: in help, from the environment, checked
	env     string // "" for flags only
	fromEnv bool   // the value came from env
	given   bool   // a flag or the environment gave the value
}

// shown is v as error messages show it (Setting.Shown).
func (e *entry) shown(v string) string {
	if e.Shown != nil {
		return e.Shown(v)
	}
	return v
}

// name is how the user gave the setting.
func (e *entry) name() string {
	if e.fromEnv {
		return e.env
	}
	return "-" + e.Flag
}

// New is the settings of command, whose environment variables start with
// envPrefix: used are the settings it reads; accepted are further settings
// whose flags it accepts and ignores, so that one set of flags can be
// passed to every command as one environment serves them all (accepted
// settings are not in its help, not read from the environment and not
// checked). Help shows the command's own options (FlagsOnly) first. Every
// setting starts at its default.
func New(command, envPrefix string, used []Group, accepted ...Group) *Set {
	used = slices.Clone(used)
	slices.SortStableFunc(used, func(a, b Group) int {
		switch {
		case a.FlagsOnly == b.FlagsOnly:
			return 0
		case a.FlagsOnly:
			return -1
		}
		return 1
	})
	s := &Set{name: command, prefix: envPrefix, used: used, byFlag: map[string]*entry{}}
	add := func(g Group, used bool) {
		for _, st := range g.Settings {
			if _, ok := s.byFlag[st.Flag]; ok {
				if used {
					panic("config: -" + st.Flag + " declared twice in " + command)
				}
				continue
			}
			e := &entry{Setting: st, used: used}
			if used && !g.FlagsOnly {
				e.env = EnvName(envPrefix, st)
			}
			s.entries = append(s.entries, e)
			s.byFlag[st.Flag] = e
		}
	}
	for _, g := range used {
		add(g, true)
	}
	for _, g := range accepted {
		add(g, false)
	}
	for _, e := range s.entries {
		Defaults(Group{Settings: []Setting{e.Setting}})
	}
	return s
}

// EnvName is the environment variable of a setting: its declared name, or
// the one ff.WithEnvVarPrefix derives from the flag.
func EnvName(prefix string, s Setting) string {
	if s.Env != "" {
		return s.Env
	}
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
}

// Parse reads args, then the environment. It returns flag.ErrHelp for -h,
// and an *Error for anything the user must fix.
func (s *Set) Parse(args []string) error {
	std := flag.NewFlagSet(s.name, flag.ContinueOnError)
	std.SetOutput(io.Discard)
	for _, e := range s.entries {
		std.Var(bound{e}, e.Flag, e.Help)
	}
	args, err := s.readAsFlagDoes(args)
	if err != nil {
		return err
	}
	fs := ff.NewFlagSetFrom(s.name, std) // -name is parsed like --name, as package flag does
	err = ff.Parse(envNames{fs, s}, args, ff.WithEnvVarPrefix(s.prefix))
	var fix *Error
	switch {
	case err == nil:
	case errors.Is(err, ff.ErrHelp):
		return flag.ErrHelp
	case errors.As(err, &fix):
		return fix
	case errors.Unwrap(err) != nil: // ff's "parse args: " adds nothing to say
		return &Error{Msg: errors.Unwrap(err).Error()}
	default:
		return &Error{Msg: err.Error()}
	}
	s.args = fs.GetArgs()
	_ = fs.WalkFlags(func(f ff.Flag) error {
		if long, _ := f.GetLongName(); f.IsSet() {
			s.byFlag[long].given = true
		}
		return nil
	})
	for _, e := range s.entries {
		if e.used && e.Required && e.Value.String() == "" {
			names := "-" + e.Flag
			if e.env != "" {
				names += " or " + e.env
			}
			return &Error{Msg: fmt.Sprintf("%s is required: %s", names, e.Help)}
		}
	}
	for _, e := range s.entries {
		if e.used && e.Check != nil {
			if err := e.Check(); err != nil {
				return &Error{Msg: fmt.Sprintf("%s %q: %v", e.name(), e.shown(e.Value.String()), err)}
			}
		}
	}
	return nil
}

// readAsFlagDoes walks the flags as ff will, to give it what package flag,
// for which every script was written, reads: -name= is an empty value (ff
// would take the next argument), and a last flag without its value is
// reported by name (ff says "missing value").
func (s *Set) readAsFlagDoes(args []string) ([]string, error) {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...), nil // the flags ended
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		e, ok := s.byFlag[name]
		switch {
		case !ok || (bound{e}).IsBoolFlag():
			out = append(out, a) // ff reports an unknown flag
		case hasValue && value == "":
			out = append(out, "-"+name, "")
		case hasValue:
			out = append(out, a)
		case i == len(args)-1:
			return nil, &Error{Msg: fmt.Sprintf("-%s needs a value: %s", name, orAny(e.Value.Want()))}
		default:
			out = append(out, a, args[i+1])
			i++
		}
	}
	return out, nil
}

// Reads reports whether the command reads the setting whose value lives at
// target (a pointer given to a Value constructor).
func (s *Set) Reads(target any) bool {
	e := s.at(target)
	return e != nil && e.used
}

// Given reports whether a flag or an environment variable gave the value of
// the setting at target, rather than its default: a command can then say
// which default it fell back to.
func (s *Set) Given(target any) bool {
	e := s.at(target)
	return e != nil && e.given
}

func (s *Set) at(target any) *entry {
	for _, e := range s.entries {
		if e.Value.target() == target {
			return e
		}
	}
	return nil
}

// Args are the arguments after the flags.
func (s *Set) Args() []string { return s.args }

// bound is a setting's Value as the flag set holds it: its errors name the
// flag and the value.
type bound struct{ e *entry }

func (b bound) Set(v string) error {
	if err := b.e.Value.Set(v); err != nil {
		return &Error{Msg: fmt.Sprintf("-%s %q: want %s", b.e.Flag, b.e.shown(v), orAny(b.e.Value.Want()))}
	}
	return nil
}

func (b bound) String() string {
	if b.e == nil {
		return ""
	}
	return b.e.Value.String()
}

func (b bound) IsBoolFlag() bool {
	bf, ok := b.e.Value.(interface{ IsBoolFlag() bool })
	return ok && bf.IsBoolFlag()
}

func orAny(want string) string {
	if want == "" {
		return "any text"
	}
	return want
}

// envNames presents the flag set to ff.Parse with each flag named after its
// environment variable, so that ff reads exactly the declared variables:
// the few names older than the prefix rule, none for the options of one
// run and for the settings a command only accepts. ff derives the variable
// from the name it is shown (prefix, _, upper case, - as _) and checks that
// no two flags share one.
type envNames struct {
	*ff.FlagSet
	set *Set
}

func (n envNames) WalkFlags(fn func(ff.Flag) error) error {
	return n.FlagSet.WalkFlags(func(f ff.Flag) error {
		long, _ := f.GetLongName()
		return fn(envFlag{Flag: f, e: n.set.byFlag[long], prefix: n.set.prefix})
	})
}

// envFlag is one flag as ff's environment step sees it. Flags on the
// command line are parsed by the flag set itself, so SetValue is called
// for values from the environment only.
type envFlag struct {
	ff.Flag
	e      *entry
	prefix string
}

func (f envFlag) GetShortName() (rune, bool) { return 0, false }

func (f envFlag) GetLongName() (string, bool) {
	if f.e.env == "" {
		return "", false
	}
	return strings.TrimPrefix(f.e.env, f.prefix+"_"), true
}

func (f envFlag) SetValue(v string) error {
	if err := f.Flag.SetValue(v); err != nil {
		return &Error{Msg: fmt.Sprintf("%s=%q: want %s", f.e.env, f.e.shown(v), orAny(f.e.Value.Want()))}
	}
	f.e.fromEnv = true
	return nil
}

// Doc is one setting as help and documentation show it.
type Doc struct {
	Group, Note, Flag, Env, Default, Want, Help, Placeholder, Recorded string
	Required                                                           bool
}

// Describe lists the settings the command reads, in help order.
func (s *Set) Describe() []Doc {
	var out []Doc
	for _, g := range s.used {
		for _, st := range g.Settings {
			e := s.byFlag[st.Flag]
			out = append(out, Doc{Group: g.Name, Note: g.Note, Flag: st.Flag, Env: e.env, Default: st.Value.Default(),
				Want: st.Value.Want(), Help: st.Help, Placeholder: st.Value.Placeholder(), Required: st.Required, Recorded: st.Recorded})
		}
	}
	return out
}

// WriteHelp prints the settings the command reads, by group, with their
// valid values, defaults and environment variables.
func (s *Set) WriteHelp(w io.Writer) {
	group := ""
	for _, d := range s.Describe() {
		if d.Group+d.Note != group {
			group = d.Group + d.Note
			if d.Note != "" {
				fmt.Fprintf(w, "\n%s (%s):\n", d.Group, d.Note)
			} else {
				fmt.Fprintf(w, "\n%s:\n", d.Group)
			}
		}
		fmt.Fprintf(w, "  %s\n        %s\n", strings.TrimSpace("-"+d.Flag+" "+d.Placeholder), d.Help)
		var facts []string
		if d.Required {
			facts = append(facts, "required")
		}
		if d.Want != "" {
			facts = append(facts, "valid: "+d.Want)
		}
		if d.Default != "" {
			facts = append(facts, "default: "+d.Default)
		}
		if d.Env != "" {
			facts = append(facts, "env: "+d.Env)
		}
		if d.Recorded != "" {
			facts = append(facts, "recorded with the state: "+d.Recorded)
		}
		if len(facts) > 0 {
			fmt.Fprintf(w, "        (%s)\n", strings.Join(facts, "; "))
		}
	}
}
