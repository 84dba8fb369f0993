package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var sentinels = []error{ErrRead, ErrSyntax, ErrUnknownKey, ErrType, ErrMissing, ErrInvalid, ErrDuplicate, ErrReference, ErrConflict, ErrSystem}

// FuzzParse checks that Parse never panics, that every error it returns is
// an *Error (or several joined) with a kind and a line inside the
// document, and that what it accepts is valid. The seed corpus is in
// testdata/fuzz/FuzzParse, plus the test documents of this package.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullDoc))
	f.Add([]byte(diffBase))
	for _, tc := range invalidCases {
		f.Add([]byte(tc.doc))
	}
	if example, err := os.ReadFile(filepath.Join("..", "..", "examples", "rockstar.toml")); err == nil {
		f.Add(example)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "/fuzz/rockstar.toml"
		c, err := Parse(name, data)
		if err == nil {
			checkValid(t, c)
			return
		}
		if c != nil {
			t.Errorf("Parse returned a Config with an error")
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range problems(t, err) {
			if e.File != name || e.Line < 0 || e.Line > lines || e.Problem == "" {
				t.Errorf("bad *Error %+v (document has %d lines)", e, lines)
			}
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(e, s)
			}
			if !known {
				t.Errorf("*Error %+v wraps no sentinel", e)
			}
		}
	})
}

// checkValid checks the invariants of an accepted config.
func checkValid(t *testing.T, c *Config) {
	t.Helper()
	if len(c.Servers) == 0 {
		t.Errorf("accepted a config without servers")
	}
	if c.Supervisor.Workers < 1 || c.Supervisor.Workers > MaxWorkers {
		t.Errorf("Workers = %d", c.Supervisor.Workers)
	}
	seen := map[string]bool{}
	for _, h := range c.Hosts {
		if h.Hostname == "" || seen[h.Hostname] {
			t.Errorf("host name %q empty or repeated", h.Hostname)
		}
		seen[h.Hostname] = true
		if h.RateLimit != nil && !(h.RateLimit.RequestsPerSecond > 0) {
			t.Errorf("host %q: rate %v", h.Hostname, h.RateLimit.RequestsPerSecond)
		}
	}
	for _, tn := range c.Tenants {
		if len(tn.Hosts) == 0 {
			t.Errorf("tenant %q has no hosts", tn.ID)
		}
		for _, h := range tn.Hosts {
			if !seen[h] {
				t.Errorf("tenant %q lists unknown host %q", tn.ID, h)
			}
		}
	}
}
