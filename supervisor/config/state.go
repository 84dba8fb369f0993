package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/rockstar-dev/rockstar/worker"
)

// Kinds of the objects the runtime API changes, State's keys.
const (
	KindHost   = "host"
	KindTenant = "tenant"
)

// ErrState: the state file cannot be read or is not a state document.
var ErrState = errors.New("config: bad state file")

// State is what the runtime API (/v1/hosts, /v1/tenants) changed on top of
// the config file, as kept in admin.state_file. Each object is a table with
// the keys of its [[host]] or [[tenant]] table in the file (JSON numbers,
// strings, booleans, arrays and objects for TOML's). A name whose value is
// null is a tombstone: the file's object of that name is deleted.
//
// The rule: a state host (by canonical hostname) or tenant (by id)
// replaces the file's of the same name, in its place; one the file lacks
// is added after the file's, in name order; a tombstone removes the
// file's. The result is validated as one config file would be.
type State struct {
	// Hosts are by canonical hostname.
	Hosts map[string]map[string]any `json:"hosts"`
	// Tenants are by id.
	Tenants map[string]map[string]any `json:"tenants"`
}

// Empty reports whether s changes nothing.
func (s *State) Empty() bool { return s == nil || len(s.Hosts) == 0 && len(s.Tenants) == 0 }

// Clone returns a copy of s whose maps may be changed; the objects are
// shared, never changed in place.
func (s *State) Clone() *State {
	c := &State{Hosts: map[string]map[string]any{}, Tenants: map[string]map[string]any{}}
	if s != nil {
		for k, v := range s.Hosts {
			c.Hosts[k] = v
		}
		for k, v := range s.Tenants {
			c.Tenants[k] = v
		}
	}
	return c
}

// Objects returns s's map of kind (KindHost or KindTenant).
func (s *State) Objects(kind string) map[string]map[string]any {
	if kind == KindTenant {
		return s.Tenants
	}
	return s.Hosts
}

// DecodeObject decodes a JSON object into the table form the config's
// decoder reads: integers become int64 and other numbers float64, as
// TOML's do.
func DecodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	m, ok := tomlValue(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a JSON object, not %s", typeName(v))
	}
	return m, nil
}

func tomlValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = tomlValue(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = tomlValue(x[k])
		}
	}
	return v
}

// ReadState reads a state file; a missing one is an empty State.
func ReadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, &Error{File: path, Problem: err.Error(), Err: fmt.Errorf("%w: %w", ErrState, err)}
	}
	var raw struct {
		Hosts   map[string]json.RawMessage `json:"hosts"`
		Tenants map[string]json.RawMessage `json:"tenants"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &Error{File: path, Problem: err.Error(), Err: fmt.Errorf("%w: %w", ErrState, err)}
	}
	st := &State{Hosts: map[string]map[string]any{}, Tenants: map[string]map[string]any{}}
	for kind, objs := range map[string]map[string]json.RawMessage{KindHost: raw.Hosts, KindTenant: raw.Tenants} {
		for name, b := range objs {
			if string(bytes.TrimSpace(b)) == "null" {
				st.Objects(kind)[name] = nil
				continue
			}
			o, err := DecodeObject(b)
			if err != nil {
				return nil, &Error{File: path, Field: kind + " " + name, Problem: err.Error(), Err: ErrState}
			}
			st.Objects(kind)[name] = o
		}
	}
	return st, nil
}

// WriteState writes st to path atomically (WriteFileAtomic, mode 0600).
func WriteState(path string, st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o600, nil)
}

// WriteFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, whole: it writes a temporary
// file in the same directory, syncs it, renames it over path and syncs
// the directory. beforeRename, when not nil, runs between the sync and
// the rename (tests use it to crash there); its error aborts the write,
// leaving the old file. A successful write also removes the temporary
// files that writes cut short by a crash left beside path.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode, beforeRename func() error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && beforeRename != nil {
		err = beforeRename()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	// Temporary files of writes that a crash cut short (only one writer
	// runs at a time: the master, under its lock) go with this one.
	if stale, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(path)+".tmp*")); len(stale) > 0 {
		for _, s := range stale {
			_ = os.Remove(s)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("config: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("config: sync %s: %w", dir, err)
	}
	return nil
}

// objectRef names an object that came from the state file.
type objectRef struct{ kind, name string }

// keyOf is the name of a table of kind: a host's canonical hostname, a
// tenant's id; "" when it has none.
func keyOf(kind string, t map[string]any) string {
	if kind == KindTenant {
		s, _ := t["id"].(string)
		return s
	}
	s, _ := t["hostname"].(string)
	return worker.CanonicalHostname(s)
}

// merge applies st to the file's document doc, in place, and returns the
// paths of the tables that came from st ("host[3]").
func merge(doc map[string]any, st *State) map[string]objectRef {
	origin := map[string]objectRef{}
	if st.Empty() {
		return origin
	}
	for _, kind := range []string{KindHost, KindTenant} {
		objs := st.Objects(kind)
		arr, ok := doc[kind].([]any)
		if _, present := doc[kind]; present && !ok {
			continue // not an array of tables: the decoder reports it
		}
		done := map[string]bool{}
		out := make([]any, 0, len(arr)+len(objs))
		for _, e := range arr {
			t, _ := e.(map[string]any)
			name := keyOf(kind, t)
			o, changed := objs[name]
			switch {
			case t == nil || name == "" || !changed:
				out = append(out, e)
			case o != nil:
				origin[indexPath(kind, len(out))] = objectRef{kind, name}
				out = append(out, o)
			}
			done[name] = true
		}
		names := make([]string, 0, len(objs))
		for name, o := range objs {
			if o != nil && !done[name] {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			origin[indexPath(kind, len(out))] = objectRef{kind, name}
			out = append(out, objs[name])
		}
		if len(out) > 0 || ok {
			doc[kind] = out
		}
	}
	return origin
}

// DefaultStateFile is admin.state_file's default for the config file at
// path: beside it, named after it, "rockstar.toml" giving
// "rockstar.state.json".
func DefaultStateFile(path string) string {
	base := filepath.Base(path)
	return filepath.Join(filepath.Dir(path), strings.TrimSuffix(base, filepath.Ext(base))+".state.json")
}

// WithState returns the config of c's file with st on top of it in place
// of c's state, validated as Load validates (CheckSystem included). c is
// not changed. A problem in an object of st is an *Error whose Object and
// ObjectField name it.
func (c *Config) WithState(st *State) (*Config, error) {
	n, err := parseState(c.name, c.data, st, c.Admin.StateFile)
	if err != nil {
		return nil, err
	}
	if err := n.CheckSystem(); err != nil {
		return nil, err
	}
	return n, nil
}

// State returns the state c was loaded with (never nil); it must not be
// changed: Clone it.
func (c *Config) State() *State {
	if c.state == nil {
		return &State{}
	}
	return c.state
}

// Object returns the effective table of the object of kind named name, and
// whether there is one. It must not be changed.
func (c *Config) Object(kind, name string) (map[string]any, bool) {
	arr, _ := c.doc[kind].([]any)
	for _, e := range arr {
		if t, ok := e.(map[string]any); ok && keyOf(kind, t) == name {
			return t, true
		}
	}
	return nil, false
}

// Objects returns the effective tables of kind, in config order.
func (c *Config) Objects(kind string) []map[string]any {
	arr, _ := c.doc[kind].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if t, ok := e.(map[string]any); ok {
			out = append(out, t)
		}
	}
	return out
}

// InFile reports whether c's file (without the state) has an object of
// kind named name.
func (c *Config) InFile(kind, name string) bool {
	var doc map[string]any
	if toml.Unmarshal(c.data, &doc) != nil {
		return false
	}
	arr, _ := doc[kind].([]any)
	for _, e := range arr {
		if t, ok := e.(map[string]any); ok && keyOf(kind, t) == name {
			return true
		}
	}
	return false
}

// Document returns the effective config as the generic tree of a TOML
// document (the file with the state on top); it must not be changed.
func (c *Config) Document() map[string]any { return c.doc }
