package config

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Sentinels for the kinds of problem; every *Error wraps one of them.
// Compare with errors.Is, never with the text.
var (
	// ErrRead: the file could not be read. The *Error also wraps the
	// operating system's error (fs.ErrNotExist, fs.ErrPermission, ...).
	ErrRead = errors.New("config: cannot read file")
	// ErrSyntax: the document is not valid TOML (including keys defined twice).
	ErrSyntax = errors.New("config: syntax error")
	// ErrUnknownKey: a key that Rockstar does not know, usually a typo.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrType: a value of the wrong TOML type (a number where a string is
	// expected, a bare integer where a duration string is expected, ...).
	ErrType = errors.New("config: wrong type")
	// ErrMissing: a required field is absent.
	ErrMissing = errors.New("config: missing field")
	// ErrInvalid: a value of the right type that is out of range or malformed.
	ErrInvalid = errors.New("config: invalid value")
	// ErrDuplicate: a host name, tenant ID, listen address or list entry
	// that appears twice.
	ErrDuplicate = errors.New("config: duplicate")
	// ErrReference: a broken or contradictory reference between hosts and
	// tenants.
	ErrReference = errors.New("config: broken reference")
	// ErrConflict: fields that cannot be used together (root and respond,
	// http2 without TLS, ...).
	ErrConflict = errors.New("config: conflicting fields")
	// ErrSystem: the config does not fit the machine (a missing static root,
	// a TLS pair that does not load, an unknown user). Only Load and
	// CheckSystem report it; the *Error also wraps the underlying error.
	ErrSystem = errors.New("config: does not fit the system")
)

// Error is one problem in a config file.
type Error struct {
	// File is the config file's path as given to Load or Parse.
	File string
	// Line is the 1-based line of the field, or of the table that lacks it;
	// 0 when the problem concerns the whole file (a missing section, an
	// unreadable file).
	Line int
	// Field is the path of the field, like "host[1].rate_limit.burst"; ""
	// when the problem is not about one field (a syntax error).
	Field string
	// Problem says what is wrong, for people.
	Problem string
	// Object is set when the problem is in an object of the state file
	// (File is then that file): "host NAME" or "tenant ID"; ObjectField is
	// Field within that object ("respond_status"), "" for the whole.
	Object, ObjectField string
	// Err is one of the sentinels above, or an error that wraps one of them
	// and the underlying cause (ErrRead, ErrSystem).
	Err error
}

// Error formats the problem as "FILE:LINE: FIELD: PROBLEM", leaving out
// the line when it is 0 and the field when it is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Object != "" {
		b.WriteString(e.Object)
		b.WriteString(": ")
		if e.ObjectField != "" {
			b.WriteString(e.ObjectField)
			b.WriteString(": ")
		}
	} else if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap returns Err, so that errors.Is matches the sentinels.
func (e *Error) Unwrap() error { return e.Err }

// joinErrors sorts errs by line (then field, for a stable order) and joins
// them: nil when there are none, the *Error itself when there is one.
func joinErrors(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Field, b.Field)
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}
