package config

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// decoder turns the generic TOML tree into the typed Config, collecting
// every problem with its position instead of stopping at the first.
type decoder struct {
	file string // as given, for errors
	dir  string // absolute directory that relative paths resolve against
	pos  positions
	errs []*Error

	// The paths of the [[server]], [[host]] and [[tenant]] tables decoded,
	// parallel to Config's slices, for errors found across sections.
	serverPaths, hostPaths, tenantPaths []string
	// origin names the tables that came from the state file at statePath.
	origin    map[string]objectRef
	statePath string
	// serversBad is set when the server key held something other than
	// tables, already reported.
	serversBad bool
	// acmeChallengesSet: the file gives acme.challenges.
	acmeChallengesSet bool
}

func (d *decoder) errorf(field string, sentinel error, format string, args ...any) {
	d.errs = append(d.errs, newError(d.file, d.pos, d.origin, d.statePath, field, sentinel, fmt.Sprintf(format, args...)))
}

// newError is the *Error for field, at its line in file, or in the state
// file when field is in a table that came from there.
func newError(file string, pos positions, origin map[string]objectRef, statePath, field string, sentinel error, problem string) *Error {
	e := &Error{File: file, Line: pos.line(field), Field: field, Problem: problem, Err: sentinel}
	for p, ref := range origin {
		if rest, ok := strings.CutPrefix(field, p); ok && (rest == "" || rest[0] == '.') {
			e.File, e.Line = statePath, 0
			e.Object = ref.kind + " " + ref.name
			e.ObjectField = strings.TrimPrefix(rest, ".")
		}
	}
	return e
}

// resolve makes a relative path absolute against the config file's
// directory; "" stays "".
func (d *decoder) resolve(p string) string {
	switch {
	case p == "":
		return ""
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	return filepath.Join(d.dir, p)
}

// table is one TOML table being decoded. Every key read through it is
// marked as used; finish reports the rest as unknown.
type table struct {
	d     *decoder
	path  string
	m     map[string]any
	known map[string]bool // keys read so far
}

// asTable checks that v is a table; path names it in errors.
func (d *decoder) asTable(path string, v any) (*table, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(path, ErrType, "must be a table, not %s", typeName(v))
		return nil, false
	}
	return &table{d: d, path: path, m: m, known: map[string]bool{}}, true
}

func (t *table) field(key string) string { return joinKey(t.path, key) }

// has reports whether key is present.
func (t *table) has(key string) bool {
	_, ok := t.m[key]
	return ok
}

// get returns the raw value of key and marks the key as known.
func (t *table) get(key string) (any, bool) {
	if t.known == nil {
		t.known = map[string]bool{}
	}
	t.known[key] = true
	v, ok := t.m[key]
	return v, ok
}

func (t *table) errorf(key string, sentinel error, format string, args ...any) {
	t.d.errorf(t.field(key), sentinel, format, args...)
}

// missing reports a required key that is absent. The error points at the
// table's own line.
func (t *table) missing(key string) {
	t.errorf(key, ErrMissing, "is required")
}

// str returns a string value; ok is false when the key is absent (reported
// if required) or not a string (reported).
func (t *table) str(key string, required bool) (string, bool) {
	v, ok := t.get(key)
	if !ok {
		if required {
			t.missing(key)
		}
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.errorf(key, ErrType, "must be a string, not %s", typeName(v))
	}
	return s, ok
}

// boolean returns a true or false value.
func (t *table) boolean(key string) (bool, bool) {
	v, ok := t.get(key)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		t.errorf(key, ErrType, "must be true or false, not %s", typeName(v))
	}
	return b, ok
}

// integer returns an integer value within [lo, hi].
func (t *table) integer(key string, lo, hi int64) (int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.errorf(key, ErrType, "must be an integer, not %s", typeName(v))
		return 0, false
	}
	return n, checkRange(t, key, n, lo, hi)
}

func checkRange(t *table, key string, n, lo, hi int64) bool {
	switch {
	case n < lo:
		t.errorf(key, ErrInvalid, "must be >= %d", lo)
	case n > hi:
		t.errorf(key, ErrInvalid, "must be <= %d", hi)
	default:
		return true
	}
	return false
}

// number returns a finite float or integer value.
func (t *table) number(key string) (float64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		t.errorf(key, ErrType, "must be a number, not %s", typeName(v))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		t.errorf(key, ErrInvalid, "must be a finite number")
		return 0, false
	}
	return f, true
}

// duration returns a positive duration written as a string like "30s".
func (t *table) duration(key string) (time.Duration, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		t.errorf(key, ErrType, "must be a duration string like \"30s\", not %s", typeName(v))
		return 0, false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		t.errorf(key, ErrInvalid, "%q is not a duration like \"30s\" or \"1m30s\"", s)
		return 0, false
	}
	if dur <= 0 {
		t.errorf(key, ErrInvalid, "must be > 0")
		return 0, false
	}
	return dur, true
}

// strings returns an array of strings; each element that is not a string
// is reported at its own position.
func (t *table) strings(key string) ([]string, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.errorf(key, ErrType, "must be an array of strings, not %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	good := true
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			t.d.errorf(indexPath(t.field(key), i), ErrType, "must be a string, not %s", typeName(e))
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

// sub returns the table under key.
func (t *table) sub(key string) (*table, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	return t.d.asTable(t.field(key), v)
}

// tables returns the array of tables under key ([[key]] sections or an
// inline array of inline tables); a value or element of another type is
// reported, and then ok is false.
func (t *table) tables(key string) (out []*table, ok bool) {
	v, present := t.get(key)
	if !present {
		return nil, true
	}
	arr, isArr := v.([]any)
	if !isArr {
		t.errorf(key, ErrType, "must be an array of tables ([[%s]]), not %s", key, typeName(v))
		return nil, false
	}
	ok = true
	for i, e := range arr {
		if s, isTable := t.d.asTable(indexPath(t.field(key), i), e); isTable {
			out = append(out, s)
		} else {
			ok = false
		}
	}
	return out, ok
}

// finish reports every key of the table that was never read.
func (t *table) finish() {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		if !t.known[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if s := suggest(k, t.known); s != "" {
			t.errorf(k, ErrUnknownKey, "unknown key (did you mean %q?)", s)
		} else {
			t.errorf(k, ErrUnknownKey, "unknown key")
		}
	}
}

// suggest returns the known key closest to k, if it is close enough to be
// a likely typo.
func suggest(k string, known map[string]bool) string {
	best, bestDist := "", 3
	for c := range known {
		if d := editDistance(k, c); d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, capped for
// long inputs so that a fuzzer cannot make it quadratic in a huge key.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// typeName names the TOML type of a decoded value.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}
