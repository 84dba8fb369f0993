package worker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Real client addresses behind a load balancer (ServerConfig.TrustedProxies,
// RealIPHeader, ProxyProtocol).
//
// A request's connection address is its socket peer, or on a
// ProxyProtocol listener the source address of the connection's PROXY
// header (proxyproto.go). When that address is one of the trusted proxies,
// the request's RealIPHeader (X-Forwarded-For, or Forwarded's for=) is
// walked from the right, skipping trusted hops, as nginx's realip module
// does with real_ip_recursive on: the client is the rightmost address that
// is not itself trusted, or the leftmost one when all are. The connection
// address is kept when it is not trusted (whatever the headers say: a
// client cannot spoof its address), when the request has no such header,
// and when the walk meets a malformed element before it finds the client
// (a value that is not an IP address, "unknown", an obfuscated name); such
// a request is served as usual, never refused. Empty list elements are
// skipped.
//
// The address found is the request's ctx.RemoteAddr and ctx.RemoteIP
// (a *net.TCPAddr, with the port the header gave, else 0): per-client rate
// limits, the access log, the reverse proxy's X-Real-IP and Forwarded, and
// handlers all see it. Without trusted proxies nothing is looked at and
// nothing is allocated; with them, a request whose address changes costs
// one allocation.

// Values of ServerConfig.RealIPHeader.
const (
	// RealIPXForwardedFor takes the client from X-Forwarded-For, a comma
	// separated list of addresses (an address may carry a port:
	// "192.0.2.1:4711", "[2001:db8::1]:4711").
	RealIPXForwardedFor = "X-Forwarded-For"
	// RealIPForwarded takes the client from the for= parameters of
	// Forwarded (RFC 7239): for=192.0.2.1, for="[2001:db8::1]:4711".
	RealIPForwarded = "Forwarded"
)

// ErrInvalidTrustedProxies: ServerConfig.TrustedProxies holds an invalid
// prefix, or RealIPHeader is not one of RealIPXForwardedFor and
// RealIPForwarded.
var ErrInvalidTrustedProxies = errors.New("worker: invalid trusted proxies")

// realIP finds the client address of requests that came through trusted
// proxies; nil: none are trusted.
type realIP struct {
	trusted   []netip.Prefix // masked
	forwarded bool           // RealIPForwarded; else X-Forwarded-For
}

// newRealIP checks cfg's trusted proxies and returns what applies them;
// nil when there are none.
func newRealIP(cfg ServerConfig) (*realIP, error) {
	forwarded := false
	switch cfg.RealIPHeader {
	case "", RealIPXForwardedFor:
	case RealIPForwarded:
		forwarded = true
	default:
		return nil, fmt.Errorf("%w: real IP header %q is neither %q nor %q", ErrInvalidTrustedProxies,
			cfg.RealIPHeader, RealIPXForwardedFor, RealIPForwarded)
	}
	if len(cfg.TrustedProxies) == 0 {
		return nil, nil
	}
	r := &realIP{forwarded: forwarded}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: %v", ErrInvalidTrustedProxies, p)
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// sameRealIP reports whether two configs trust the same proxies the same way.
func sameRealIP(a, b ServerConfig) bool {
	return slices.Equal(a.TrustedProxies, b.TrustedProxies) && a.RealIPHeader == b.RealIPHeader &&
		a.ProxyProtocol == b.ProxyProtocol
}

// trusts reports whether a is one of the trusted proxies.
func (r *realIP) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// apply sets ctx's remote address to its client's (see above).
func (r *realIP) apply(ctx *fasthttp.RequestCtx) {
	ctx.SetRemoteAddr(nil) // the connection's own, whatever an earlier request on it found
	peer := addrOf(ctx.RemoteAddr())
	if !peer.IsValid() || !r.trusts(peer) {
		return
	}
	name := fasthttp.HeaderXForwardedFor
	if r.forwarded {
		name = RealIPForwarded
	}
	lines := ctx.Request.Header.PeekAll(name)
	if len(lines) == 0 {
		return
	}
	if client, ok := r.walk(lines); ok && client.Addr() != peer {
		ctx.SetRemoteAddr(newClientAddr(client))
	}
}

// walk finds the client in the header's lines, right to left; false: the
// header is to be ignored.
func (r *realIP) walk(lines [][]byte) (netip.AddrPort, bool) {
	var last netip.AddrPort
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for len(rest) > 0 {
			var elem []byte
			if j := bytes.LastIndexByte(rest, ','); j >= 0 {
				elem, rest = rest[j+1:], rest[:j]
			} else {
				elem, rest = rest, nil
			}
			elem = bytes.TrimSpace(elem)
			if len(elem) == 0 {
				continue
			}
			var a netip.AddrPort
			var ok bool
			if r.forwarded {
				a, ok = forwardedFor(elem)
			} else {
				a, ok = parseHop(elem)
			}
			if !ok {
				return netip.AddrPort{}, false
			}
			last = a
			if !r.trusts(a.Addr()) {
				return a, true
			}
		}
	}
	return last, last.IsValid()
}

// parseHop parses one address of X-Forwarded-For or Forwarded's for=:
// an IP address, "[IPv6]", or either with a port. Zones are refused. It
// does not allocate for an IPv4 address or for bytes that cannot be one.
func parseHop(b []byte) (netip.AddrPort, bool) {
	if len(b) == 0 || len(b) > len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535") || !hopChars(b) {
		return netip.AddrPort{}, false
	}
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return netip.AddrPort{}, false
		}
		port, ok := uint16(0), true
		if end != len(b)-1 {
			if b[end+1] != ':' {
				return netip.AddrPort{}, false
			}
			port, ok = parsePort(b[end+2:])
		}
		a, err := netip.ParseAddr(bytesString(b[1:end]))
		return netip.AddrPortFrom(a.Unmap(), port), ok && err == nil && a.Is6()
	}
	if a, rest, ok := parseIPv4(b); ok {
		port := uint16(0)
		if len(rest) > 0 {
			if rest[0] != ':' {
				return netip.AddrPort{}, false
			}
			if port, ok = parsePort(rest[1:]); !ok {
				return netip.AddrPort{}, false
			}
		}
		return netip.AddrPortFrom(a, port), true
	}
	a, err := netip.ParseAddr(bytesString(b)) // a bare IPv6 address
	return netip.AddrPortFrom(a.Unmap(), 0), err == nil && a.Is6()
}

// hopChars reports whether b holds only what an address and port may.
func hopChars(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == ':', c == '.', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// parseIPv4 parses a dotted-quad IPv4 address at the start of b and
// returns the rest.
func parseIPv4(b []byte) (netip.Addr, []byte, bool) {
	var v [4]byte
	for i := range 4 {
		if i > 0 {
			if len(b) == 0 || b[0] != '.' {
				return netip.Addr{}, nil, false
			}
			b = b[1:]
		}
		n, digits := 0, 0
		for digits < len(b) && b[digits] >= '0' && b[digits] <= '9' {
			n = n*10 + int(b[digits]-'0')
			digits++
			if digits > 3 || n > 255 {
				return netip.Addr{}, nil, false
			}
		}
		if digits == 0 || digits > 1 && b[0] == '0' {
			return netip.Addr{}, nil, false
		}
		v[i] = byte(n)
		b = b[digits:]
	}
	return netip.AddrFrom4(v), b, true
}

// parsePort parses a decimal port, 0 to 65535.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= 65535
}

// bytesString is b as a string without a copy, for a parser that keeps
// nothing of it: b must not change while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// forwardedFor returns the address of one Forwarded element's for=
// parameter: for=192.0.2.1 or for="[2001:db8::1]:80". An element without
// for=, or whose for= is no address ("unknown", "_hidden"), is malformed.
func forwardedFor(elem []byte) (netip.AddrPort, bool) {
	for len(elem) > 0 {
		var pair []byte
		if j := bytes.IndexByte(elem, ';'); j >= 0 {
			pair, elem = elem[:j], elem[j+1:]
		} else {
			pair, elem = elem, nil
		}
		pair = bytes.TrimSpace(pair)
		eq := bytes.IndexByte(pair, '=')
		if eq != 3 || !bytes.EqualFold(pair[:3], []byte("for")) {
			continue
		}
		v := pair[4:]
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		} else if bytes.IndexByte(v, '"') >= 0 {
			return netip.AddrPort{}, false
		}
		if len(v) > 0 && v[0] != '[' && bytes.IndexByte(v, ':') >= 0 && bytes.Count(v, []byte(":")) > 1 {
			return netip.AddrPort{}, false // RFC 7239: an IPv6 address is bracketed
		}
		return parseHop(v)
	}
	return netip.AddrPort{}, false
}

// addrOf is the IP address of a connection's address; the zero Addr if
// it has none.
func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		if a == nil {
			return netip.Addr{}
		}
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
	ip4, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return ip4.Unmap()
}

// clientAddr is a *net.TCPAddr and the bytes of its IP in one allocation.
type clientAddr struct {
	tcp net.TCPAddr
	ip  [16]byte
}

func newClientAddr(ap netip.AddrPort) *net.TCPAddr {
	c := &clientAddr{}
	a := ap.Addr()
	if a.Is4() {
		v := a.As4()
		copy(c.ip[:], v[:])
		c.tcp.IP = c.ip[:4:4]
	} else {
		c.ip = a.As16()
		c.tcp.IP = c.ip[:]
	}
	c.tcp.Port = int(ap.Port())
	return &c.tcp
}
