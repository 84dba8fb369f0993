package worker

import (
	"encoding/binary"
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
	if len(host) == 0 || len(host) > maxHostname+8 {
		var zero T
		return zero, false
	}
	// Clients send host names in lower case: try the name as it is first.
	// A name with a capital letter cannot match, as every key is lower case.
	name := trimHost(host)
	if v, ok := m.exact[string(name)]; ok {
		return v, true
	}
	return m.lookupSlow(name)
}

// lookupSlow is lookup after the name as sent missed: lower it, then try
// the wildcards.
func (m hostMap[T]) lookupSlow(name []byte) (T, bool) {
	var buf [maxHostname + 8]byte
	if hasUpper(name) {
		name = lowerASCII(buf[:len(name)], b2s(name))
		if v, ok := m.exact[string(name)]; ok {
			return v, true
		}
	}
	if len(m.wild) > 0 {
		if parent := parentDomain(name); len(parent) > 0 {
			if v, ok := m.wild[string(parent)]; ok {
				return v, true
			}
		}
	}
	var zero T
	return zero, false
}

// trimHost returns a Host header value without its ":port" and its
// trailing dot, as normalizeHost(dst, host, true) does, but without copying
// or lowering it.
func trimHost(host []byte) []byte {
	return host[:hostLen(host, true)]
}

// hasUpper reports whether b holds an ASCII capital letter. It tests eight
// bytes at a time: a byte x is in 'A'..'Z' when 'A'-1 < x < 'Z'+1, and the
// expression below sets the high bit of exactly those bytes of a word
// (bytes of 0x80 and above are masked out by &^w), without carries between
// bytes.
func hasUpper(b []byte) bool {
	const (
		ones  = 0x0101010101010101
		low7  = ones * 0x7f
		highs = ones * 0x80
		lo    = 'A' - 1
		hi    = 'Z' + 1
	)
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		x := w & low7
		if (ones*(127+hi)-x)&^w&(x+ones*(127-lo))&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
