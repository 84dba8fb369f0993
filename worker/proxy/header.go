package proxy

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// What the proxy does to the headers it forwards. The upstream sees the
// client's request header with:
//
//   - the hop-by-hop headers removed (RFC 9110, section 7.6.1), with the
//     fields that any Connection line of the request names, except Host,
//     Content-Length and Transfer-Encoding, which describe the message
//     itself and are never dropped that way (the proxy writes its own
//     Content-Length or Transfer-Encoding for the body it sends);
//   - Host: the host the request was routed by (of an absolute-form
//     target, its authority), or the proxy's Name when the request had
//     none, so that an upstream never gets a request without one;
//   - the request target in origin-form: an absolute-form target
//     ("http://host/path", which an HTTP/1.1 client, or an HTTP/2 or
//     HTTP/3 :path, may carry) is sent as its path and query;
//   - X-Forwarded-For: the client's, with the address of the peer that
//     connected appended (the PROXY protocol's source address, if the
//     listener reads one): that is the client, unless the server took the
//     client from the trusted proxies' X-Forwarded-For (worker's
//     ServerConfig.TrustedProxies), which then already names it, followed
//     by the trusted hops, so the upstream can walk the same chain;
//   - X-Forwarded-Proto, X-Forwarded-Host, X-Real-IP and Forwarded set by
//     the proxy (whatever the client sent is dropped), and the client's
//     X-Forwarded-Port, X-Forwarded-Prefix, X-Forwarded-Server,
//     X-Forwarded-Scheme, X-Forwarded-Ssl, X-Original-URL, X-Rewrite-URL,
//     X-Original-Host, X-Host, X-Url-Scheme and Front-End-Https dropped:
//     frameworks behind a proxy trust them for the client's address,
//     scheme, host or path;
//   - Via with the proxy appended; no Expect; and no Content-Type the
//     client did not send.
//
// A request whose header names are not tokens, whose header values hold
// CR, LF or NUL, or whose target is not origin-form, absolute-form
// (http or https) or "*" (OPTIONS) is not forwarded: it gets 400.

// forwardRequestHeader writes into dst the request header to send to an
// upstream (see above); name is the proxy's, the Host of a request that
// had none. It reports false, with dst half written, for a request the
// proxy must not forward.
func forwardRequestHeader(ctx *fasthttp.RequestCtx, dst *fasthttp.RequestHeader, name string) bool {
	src := &ctx.Request.Header
	var conns [][]byte
	if len(src.Peek(fasthttp.HeaderConnection)) > 0 {
		// Every Connection line counts, not only the first.
		conns = src.PeekAll(fasthttp.HeaderConnection)
	}
	var xff, via []byte
	for k, v := range src.All() {
		if !validHeaderName(k) || !validHeaderValue(v) {
			return false
		}
		switch {
		case hopByHop(k), bytes.EqualFold(k, []byte(fasthttp.HeaderContentLength)),
			bytes.EqualFold(k, []byte(fasthttp.HeaderExpect)), bytes.EqualFold(k, []byte(fasthttp.HeaderHost)):
			continue
		case bytes.EqualFold(k, []byte(fasthttp.HeaderXForwardedFor)):
			xff = v
			continue
		case bytes.EqualFold(k, []byte(fasthttp.HeaderVia)):
			via = v
			continue
		case forwardingHeader(k):
			continue
		case len(conns) > 0 && connectionListed(conns, k):
			continue
		}
		dst.AddBytesKV(k, v)
	}
	var buf [128]byte
	uri, ok := originForm(src.RequestURI(), src.IsOptions(), buf[:0])
	if !ok {
		return false
	}
	dst.SetNoDefaultContentType(true)
	dst.SetMethodBytes(src.Method())
	dst.SetRequestURIBytes(uri)
	host := ctx.Host()
	if len(host) == 0 {
		host = []byte(name)
	} else if !printable(host) {
		return false
	}
	dst.SetHostBytes(host)
	ip, hasIP := netip.AddrFromSlice(ctx.RemoteIP())
	ip = ip.Unmap()
	b := buf[:0]
	if len(xff) > 0 {
		b = append(append(b, xff...), ", "...)
	}
	if hop, ok := hopIP(ctx, ip, hasIP); ok {
		b = hop.AppendTo(b)
	}
	dst.SetBytesV(fasthttp.HeaderXForwardedFor, b)
	proto := "http"
	if ctx.IsTLS() {
		proto = "https"
	}
	dst.Set(fasthttp.HeaderXForwardedProto, proto)
	dst.SetBytesV(fasthttp.HeaderXForwardedHost, host)
	if hasIP {
		dst.SetBytesV("X-Real-IP", ip.AppendTo(buf[:0]))
	}
	dst.SetBytesV("Forwarded", appendForwarded(buf[:0], ip, hasIP, host, proto))
	dst.SetBytesV(fasthttp.HeaderVia, appendVia(buf[:0], via))
	return true
}

// hopIP is the address to append to X-Forwarded-For: the connection's
// peer, which differs from ip, the client's, when the server found the
// client behind trusted proxies.
func hopIP(ctx *fasthttp.RequestCtx, ip netip.Addr, hasIP bool) (netip.Addr, bool) {
	c := ctx.Conn()
	if c == nil {
		return ip, hasIP
	}
	var peer net.IP
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		peer = a.IP
	case *net.UDPAddr: // HTTP/3
		peer = a.IP
	default:
		return ip, hasIP
	}
	hop, ok := netip.AddrFromSlice(peer)
	if !ok {
		return ip, hasIP
	}
	return hop.Unmap(), true
}

// appendVia appends the Via value to forward: the one received, if any,
// with the proxy's own after it.
func appendVia(b, via []byte) []byte {
	if len(via) > 0 {
		b = append(append(b, via...), ", "...)
	}
	return append(b, viaValue...)
}

// appendForwarded appends the proxy's Forwarded element (RFC 7239):
// for=, host= and proto=, quoted where they are not tokens.
func appendForwarded(b []byte, ip netip.Addr, hasIP bool, host []byte, proto string) []byte {
	if hasIP {
		if ip.Is6() {
			b = append(ip.AppendTo(append(b, `for="[`...)), `]";`...)
		} else {
			b = append(ip.AppendTo(append(b, "for="...)), ';')
		}
	}
	if bytes.IndexByte(host, '"') < 0 && bytes.IndexByte(host, '\\') < 0 {
		b = append(append(append(b, `host="`...), host...), `";`...)
	}
	return append(append(b, "proto="...), proto...)
}

// forwardingHeader reports whether k is a header that tells an upstream
// who the client is or what it asked for, which the client must not set
// (see above): the proxy drops it, and sets its own where it has one.
func forwardingHeader(k []byte) bool {
	switch len(k) {
	case 6:
		return bytes.EqualFold(k, []byte("X-Host"))
	case 9:
		return bytes.EqualFold(k, []byte("Forwarded")) || bytes.EqualFold(k, []byte("X-Real-IP"))
	case 12:
		return bytes.EqualFold(k, []byte("X-Url-Scheme"))
	case 13:
		return bytes.EqualFold(k, []byte("X-Rewrite-URL"))
	case 14:
		return bytes.EqualFold(k, []byte("X-Original-URL"))
	case 15:
		return bytes.EqualFold(k, []byte("X-Forwarded-Ssl")) || bytes.EqualFold(k, []byte("Front-End-Https")) ||
			bytes.EqualFold(k, []byte("X-Original-Host"))
	case 16:
		return bytes.EqualFold(k, []byte(fasthttp.HeaderXForwardedHost)) ||
			bytes.EqualFold(k, []byte("X-Forwarded-Port"))
	case 17:
		return bytes.EqualFold(k, []byte(fasthttp.HeaderXForwardedProto))
	case 18:
		return bytes.EqualFold(k, []byte("X-Forwarded-Prefix")) || bytes.EqualFold(k, []byte("X-Forwarded-Server")) ||
			bytes.EqualFold(k, []byte("X-Forwarded-Scheme"))
	}
	return false
}

// originForm returns the request target to send upstream for uri, the
// client's (see above), appending to buf when it must build one; false:
// a target the proxy does not forward.
func originForm(uri []byte, options bool, buf []byte) ([]byte, bool) {
	if !printable(uri) {
		return nil, false
	}
	switch {
	case len(uri) > 0 && uri[0] == '/':
		return uri, true
	case len(uri) == 1 && uri[0] == '*' && options:
		return uri, true
	}
	var rest []byte
	switch {
	case len(uri) > 7 && bytes.EqualFold(uri[:7], []byte("http://")):
		rest = uri[7:]
	case len(uri) > 8 && bytes.EqualFold(uri[:8], []byte("https://")):
		rest = uri[8:]
	default:
		return nil, false
	}
	i := bytes.IndexAny(rest, "/?")
	switch {
	case i < 0:
		return append(buf, '/'), true
	case rest[i] == '/':
		return rest[i:], true
	}
	return append(append(buf, '/'), rest[i:]...), true
}

// printable reports whether b is non-empty and holds no control
// character, space or DEL (a request target or a Host value).
func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return len(b) > 0
}

// tokenChars marks the bytes of an RFC 9110 token (a header name).
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHeaderName reports whether k is a token.
func validHeaderName(k []byte) bool {
	for _, c := range k {
		if !tokenChars[c] {
			return false
		}
	}
	return len(k) > 0
}

// validHeaderValue reports whether v holds no CR, LF or NUL, which would
// end the line (or be taken to) at the upstream.
func validHeaderValue(v []byte) bool {
	return bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 && bytes.IndexByte(v, 0) < 0
}

// hopByHop reports whether a header belongs to one connection and must not
// be forwarded (RFC 9110, section 7.6.1).
func hopByHop(k []byte) bool {
	switch len(k) {
	case 2:
		return bytes.EqualFold(k, []byte("TE"))
	case 7:
		return bytes.EqualFold(k, []byte("Trailer")) || bytes.EqualFold(k, []byte("Upgrade"))
	case 10:
		return bytes.EqualFold(k, []byte("Connection")) || bytes.EqualFold(k, []byte("Keep-Alive"))
	case 16:
		return bytes.EqualFold(k, []byte("Proxy-Connection"))
	case 17:
		return bytes.EqualFold(k, []byte("Transfer-Encoding"))
	case 18:
		return bytes.EqualFold(k, []byte("Proxy-Authenticate"))
	case 19:
		return bytes.EqualFold(k, []byte("Proxy-Authorization"))
	}
	return false
}

// connectionListed reports whether a Connection line of conns names k, a
// header that is then hop-by-hop too; Host, Content-Length and
// Transfer-Encoding never are.
func connectionListed(conns [][]byte, k []byte) bool {
	switch {
	case bytes.EqualFold(k, []byte(fasthttp.HeaderHost)),
		bytes.EqualFold(k, []byte(fasthttp.HeaderContentLength)),
		bytes.EqualFold(k, []byte(fasthttp.HeaderTransferEncoding)):
		return false
	}
	for _, conn := range conns {
		for len(conn) > 0 {
			var tok []byte
			if i := bytes.IndexByte(conn, ','); i >= 0 {
				tok, conn = conn[:i], conn[i+1:]
			} else {
				tok, conn = conn, nil
			}
			if bytes.EqualFold(bytes.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// forwardResponseHeader copies an upstream's status and headers to dst,
// without hop-by-hop headers (those that any Connection line names
// included), and with Via; Date and Server are the proxy's own, and the
// body's length is set with the body.
func forwardResponseHeader(src *fasthttp.Response, dst *fasthttp.Response) {
	dst.SetStatusCode(src.StatusCode())
	if msg := src.Header.StatusMessage(); len(msg) > 0 {
		dst.Header.SetStatusMessage(msg)
	}
	dst.Header.SetNoDefaultContentType(true)
	var conns [][]byte
	if len(src.Header.Peek(fasthttp.HeaderConnection)) > 0 {
		conns = src.Header.PeekAll(fasthttp.HeaderConnection)
	}
	var via []byte
	for k, v := range src.Header.All() {
		switch {
		case hopByHop(k), bytes.EqualFold(k, []byte(fasthttp.HeaderContentLength)),
			bytes.EqualFold(k, []byte(fasthttp.HeaderDate)), bytes.EqualFold(k, []byte(fasthttp.HeaderServer)):
			continue
		case bytes.EqualFold(k, []byte(fasthttp.HeaderVia)):
			via = v
			continue
		case len(conns) > 0 && connectionListed(conns, k):
			continue
		}
		dst.Header.AddBytesKV(k, v)
	}
	var buf [128]byte
	dst.Header.SetBytesV(fasthttp.HeaderVia, appendVia(buf[:0], via))
}
