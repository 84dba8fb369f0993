package worker

import (
	"maps"
	"strings"
)

// hostMap finds the value for a Host header: an exact name first, then a
// one-label wildcard ("*.example.com" matches "a.example.com" only).
// It is immutable once built; lookups allocate nothing.
type hostMap[T any] struct {
	exact map[string]T
	wild  map[string]T // keyed by the part after "*."
}

func newHostMap[T any]() hostMap[T] {
	return hostMap[T]{exact: make(map[string]T), wild: make(map[string]T)}
}

// set stores v under a canonical name, which may be a wildcard.
func (m hostMap[T]) set(name string, v T) {
	if suffix, ok := strings.CutPrefix(name, "*."); ok {
		m.wild[suffix] = v
		return
	}
	m.exact[name] = v
}

// with returns a copy of m with v stored under name, leaving m as it is:
// one map copy per change, instead of re-inserting every name.
func (m hostMap[T]) with(name string, v T) hostMap[T] {
	n := hostMap[T]{exact: maps.Clone(m.exact), wild: maps.Clone(m.wild)}
	n.set(name, v)
	return n
}

// get returns the value stored under exactly this canonical name.
func (m hostMap[T]) get(name string) (T, bool) {
	if suffix, ok := strings.CutPrefix(name, "*."); ok {
		v, ok := m.wild[suffix]
		return v, ok
	}
	v, ok := m.exact[name]
	return v, ok
}

func (m hostMap[T]) len() int { return len(m.exact) + len(m.wild) }

// lookup resolves a raw Host header value (any case, maybe with a port or a
// trailing dot).
func (m hostMap[T]) lookup(host []byte) (T, bool) {
	var zero T
	if len(host) == 0 || len(host) > maxHostname+8 {
		return zero, false
	}
	var buf [maxHostname + 8]byte
	name := normalizeHost(buf[:0], host, true)
	if v, ok := m.exact[string(name)]; ok {
		return v, true
	}
	if len(m.wild) > 0 {
		if parent := parentDomain(name); len(parent) > 0 {
			if v, ok := m.wild[string(parent)]; ok {
				return v, true
			}
		}
	}
	return zero, false
}
