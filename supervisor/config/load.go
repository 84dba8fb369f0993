package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the config file at path, parses and validates it (Parse),
// puts the runtime API's changes in admin.state_file on top of it (State
// says how; a missing state file changes nothing), and checks the result
// against the machine (CheckSystem). The error is nil, an
// *Error, or several *Errors joined in line order.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problem: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if c.Admin.StateFile != "" {
		st, err := ReadState(c.Admin.StateFile)
		if err != nil {
			return nil, err
		}
		if !st.Empty() {
			if c, err = parseState(path, data, st, c.Admin.StateFile); err != nil {
				return nil, err
			}
		}
	}
	if err := c.CheckSystem(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse parses and validates data, the contents of the config file at
// path. path is not read: it names the file in errors and anchors relative
// paths (to the current directory when path is relative). Parse touches
// nothing on disk. The error is nil, an *Error, or several *Errors joined
// in line order.
func Parse(path string, data []byte) (*Config, error) {
	return parseState(path, data, nil, "")
}

// parseState is Parse with st, read from statePath, on top of the file.
func parseState(path string, data []byte, st *State, statePath string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: path, Problem: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
	}
	// A full decode first: it applies every rule of TOML (keys defined
	// twice, tables reopened, integers that overflow) and gives the values.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(path, err)
	}
	origin := merge(doc, st)
	d := &decoder{file: path, dir: filepath.Dir(abs), pos: scanPositions(data), origin: origin, statePath: statePath}
	c := &Config{Path: abs, name: path, pos: d.pos, data: data, doc: doc, state: st, origin: origin, statePath: statePath}
	d.decode(c, doc)
	d.validate(c)
	if len(d.errs) > 0 {
		return nil, joinErrors(d.errs)
	}
	return c, nil
}

// syntaxError turns go-toml's error into an *Error at its line.
func syntaxError(path string, err error) *Error {
	e := &Error{File: path, Problem: err.Error(), Err: ErrSyntax}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		e.Line, _ = de.Position()
		e.Problem = de.Error()
	}
	return e
}
