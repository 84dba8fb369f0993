package worker

import "fmt"

// maxHostname is the longest host name DNS allows, without a trailing dot.
const maxHostname = 253

// ValidateHostname reports whether name is a valid host name for
// registration: labels of 1 to 63 letters, digits or hyphens, not starting or
// ending with a hyphen, at most 253 characters in all (a leading "*."
// counts, a trailing dot does not), with an optional leading "*." for a
// one-label wildcard. A trailing dot is allowed. The error wraps
// ErrInvalidHostname.
func ValidateHostname(name string) error {
	if err := validateHostname(name); err != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidHostname, name, err)
	}
	return nil
}

func validateHostname(name string) string {
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	// The 253 count "in all" includes a leading "*.": no name it matches
	// could be longer than DNS allows.
	if len(name) > maxHostname {
		return "longer than 253 characters"
	}
	if len(name) > 2 && name[0] == '*' && name[1] == '.' {
		name = name[2:]
	}
	if name == "" {
		return "empty"
	}
	label := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			switch {
			case label == 0:
				return "empty label"
			case label > 63:
				return "label longer than 63 characters"
			case name[i-label] == '-' || name[i-1] == '-':
				return "label starts or ends with a hyphen"
			}
			label = 0
			continue
		}
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("bad character %q", c)
		}
		label++
	}
	return ""
}

// CanonicalHostname returns name as the registries store it: lower case,
// without a trailing dot. It does not validate.
func CanonicalHostname(name string) string {
	var buf [maxHostname + 8]byte
	if len(name) > len(buf) {
		return string(lowerASCII(make([]byte, len(name)), name))
	}
	return string(normalizeHost(buf[:0], name, false))
}

func lowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}

// normalizeHost appends the canonical form of a Host header value to dst:
// lower case, without a port (when stripPort is set) and without a trailing
// dot. An IPv6 literal keeps its brackets. It allocates nothing when dst has
// room.
func normalizeHost[S ~string | ~[]byte](dst []byte, host S, stripPort bool) []byte {
	n := hostLen(host, stripPort)
	for i := 0; i < n; i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// parentDomain returns host without its first label ("a.b.c" -> "b.c"), the
// key under which a "*.b.c" wildcard is stored, or "" if host has one label.
func parentDomain(host []byte) []byte {
	for i, c := range host {
		if c == '.' {
			return host[i+1:]
		}
	}
	return nil
}

// hostLen is the length of host without its trailing dot and, with
// stripPort, its ":port" (a colon inside an IPv6 literal is not one).
func hostLen[S ~string | ~[]byte](host S, stripPort bool) int {
	n := len(host)
	if stripPort {
		for i := n - 1; i >= 0; i-- {
			c := host[i]
			if c == ':' {
				n = i
				break
			}
			if c < '0' || c > '9' {
				break
			}
		}
	}
	if n > 0 && host[n-1] == '.' {
		n--
	}
	return n
}
