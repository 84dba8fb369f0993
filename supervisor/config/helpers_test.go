package config

import (
	"errors"
	"testing"
)

// problems flattens err (an *Error or several joined) into its *Errors,
// failing the test on anything else.
func problems(t testing.TB, err error) []*Error {
	t.Helper()
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		var ce *Error
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if !errors.As(e, &ce) || ce != e {
			t.Fatalf("error %T %q is not an *Error", e, e)
		}
		out = append(out, ce)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// parse parses doc as "/etc/rockstar/rockstar.toml".
func parse(t testing.TB, doc string) (*Config, error) {
	t.Helper()
	return Parse("/etc/rockstar/rockstar.toml", []byte(doc))
}

// mustParse parses doc and fails the test on any error.
func mustParse(t testing.TB, doc string) *Config {
	t.Helper()
	c, err := parse(t, doc)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}
