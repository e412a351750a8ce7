package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A Value holds one setting: it parses text into the variable the command
// reads, and says which values are valid. The constructors below are the
// only implementations; each checks its range as it parses, so a value out
// of range is reported exactly like one that does not parse.
type Value interface {
	flag.Value
	// Want says which values are valid, e.g. "an integer from 1 to 10000";
	// "" when any text is.
	Want() string
	// Default is the default as text.
	Default() string
	// Placeholder names the kind of value in help: int, duration, ...
	Placeholder() string
	target() any // the variable: identifies the setting (Group.Only)
}

var errInvalid = errors.New("invalid value")

type value[T any] struct {
	p           *T
	def         string
	want        string
	placeholder string
	parse       func(string) (T, error)
	format      func(T) string
}

func (v *value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return errInvalid
	}
	*v.p = x
	return nil
}

func (v *value[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

func (v *value[T]) Want() string        { return v.want }
func (v *value[T]) Default() string     { return v.def }
func (v *value[T]) Placeholder() string { return v.placeholder }
func (v *value[T]) target() any         { return v.p }

// Parse is a value of any type: parse turns text into it (an error means
// the text is not one of want), format turns it back into text. def is the
// default as text, and must parse.
func Parse[T any](p *T, def, want, placeholder string, parse func(string) (T, error), format func(T) string) Value {
	return &value[T]{p: p, def: def, want: want, placeholder: placeholder, parse: parse, format: format}
}

// String is text that is not checked here (a file name, a topic, a
// password); want still says what it should be, for help.
func String(p *string, def, want string) Value {
	return Text(p, def, want, nil)
}

// Text is text that check accepts; want describes what it accepts.
func Text(p *string, def, want string, check func(string) error) Value {
	return Parse(p, def, want, "string", func(s string) (string, error) {
		if check != nil {
			if err := check(s); err != nil {
				return "", err
			}
		}
		return s, nil
	}, func(s string) string { return s })
}

// OneOf is one of the given words.
func OneOf(p *string, def string, valid ...string) Value {
	return Text(p, def, Words(valid...), func(s string) error {
		for _, w := range valid {
			if s == w {
				return nil
			}
		}
		return errInvalid
	})
}

// Words lists words as help reads them: "a, b or c".
func Words[S ~string](words ...S) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(w))
	}
	return b.String()
}

// Int is an integer from min to max (math.MaxInt: no upper bound).
func Int(p *int, def, min, max int) Value {
	want := fmt.Sprintf("an integer from %d to %d", min, max)
	if max == math.MaxInt {
		want = fmt.Sprintf("an integer of %d or more", min)
	}
	return Parse(p, strconv.Itoa(def), want, "int", func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < min || n > max {
			return 0, errInvalid
		}
		return n, nil
	}, strconv.Itoa)
}

// Uint64 is any unsigned integer.
func Uint64(p *uint64, def uint64) Value {
	return Parse(p, strconv.FormatUint(def, 10), "an integer of 0 or more", "uint", func(s string) (uint64, error) {
		return strconv.ParseUint(s, 10, 64)
	}, func(n uint64) string { return strconv.FormatUint(n, 10) })
}

// Float is a number that ok accepts; want describes which.
func Float(p *float64, def float64, want string, ok func(float64) bool) Value {
	format := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	return Parse(p, format(def), want, "float", func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !ok(f) {
			return 0, errInvalid
		}
		return f, nil
	}, format)
}

// Duration is a duration of at least min: 0 allows zero, and a positive
// min (time.Nanosecond) asks for a positive one.
func Duration(p *time.Duration, def, min time.Duration) Value {
	want := "a duration such as 30s or 1h"
	switch {
	case min == 0:
		want += ", 0 or more"
	case min == time.Nanosecond:
		want = "a positive duration such as 30s or 1h"
	case min > 0:
		want += fmt.Sprintf(", at least %s", min)
	}
	return Parse(p, FormatDuration(def), want, "duration", func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d < min {
			return 0, errInvalid
		}
		return d, nil
	}, FormatDuration)
}

// FormatDuration is d without the zero units time.Duration.String keeps:
// 1h rather than 1h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Bool is true or false; as a flag, -name alone means true.
func Bool(p *bool, def bool) Value {
	return boolValue{Parse(p, strconv.FormatBool(def), "true or false", "", strconv.ParseBool, strconv.FormatBool).(*value[bool])}
}

type boolValue struct{ *value[bool] }

// IsBoolFlag lets -name stand for -name=true.
func (boolValue) IsBoolFlag() bool { return true }
