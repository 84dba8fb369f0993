package worker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/valyala/fasthttp"
)

// The adapter serves HTTP/2 and HTTP/3 requests (net/http's and quic-go's
// servers) with the fasthttp handlers: net/http request -> pooled
// fasthttp.RequestCtx -> the binding's dispatch -> net/http response.
//
//   - Headers are copied once each way. Repeated request headers stay
//     repeated; repeated response headers (Set-Cookie, Vary, ...) too.
//     Response header values are copied into one string, so a response
//     costs a handful of allocations whatever its number of headers.
//   - A request body of a known length up to adapterSmallBody is read
//     into the RequestCtx; a larger one, or one of unknown length, is
//     streamed: ctx.RequestBodyStream() reads it as it arrives, and
//     ctx.PostBody() reads it whole on first use. Bodies over
//     MaxRequestSize get 413 (at once when the length is known).
//   - A response body stream (SetBodyStream, SetBodyStreamWriter) is
//     copied as it is produced, flushed after each read when its length
//     is unknown.
//   - Hop-by-hop headers (Connection and what it names, Keep-Alive,
//     Proxy-Connection, Transfer-Encoding, Upgrade, TE, Trailer) are
//     dropped: HTTP/2 and HTTP/3 forbid them.
//   - The :authority picks the site. A request whose host field names
//     another authority, or that has two, or whose :path is not
//     origin-form, gets 400 (wellFormed); the host field is never copied.
//   - RequestContext(ctx) is the request's context: it is cancelled when
//     the client resets the stream or goes away.
//   - ctx.RemoteAddr, LocalAddr, IsTLS, TLSConnectionState (with the SNI
//     in ServerName) and URI().Scheme ("https") are those of the
//     connection; ctx.Request.Header.Protocol() is "HTTP/2.0" or "HTTP/3.0".
//
// Hijack is not possible on a multiplexed stream: a handler that hijacks
// gets its response written as usual and the hijack handler is never run.

// adapterSmallBody is the largest request body read whole before the
// handler runs; larger or unknown-length bodies are streamed.
const adapterSmallBody = 64 << 10

// RequestContext returns the context of the request ctx serves. Over
// HTTP/2 and HTTP/3 it is the net/http request's context, cancelled when
// the client resets the stream or the connection goes away; over HTTP/1.1
// it is ctx itself, which fasthttp cancels when the server shuts down.
func RequestContext(ctx *fasthttp.RequestCtx) context.Context {
	if c, ok := ctx.UserValue(requestContextKey{}).(context.Context); ok {
		return c
	}
	return ctx
}

type requestContextKey struct{}

// adapter is the http.Handler of a TLS binding's HTTP/2 or HTTP/3 server.
type adapter struct {
	ts      *tlsServe
	proto   string   // "HTTP/2.0" or "HTTP/3.0"
	altSvc  []string // Alt-Svc of HTTP/2 responses while HTTP/3 is on; nil otherwise
	maxBody int64
	flog    fasthttp.Logger
}

// adaptCtx is one request's pooled state.
type adaptCtx struct {
	fctx    fasthttp.RequestCtx
	conn    adaptConn
	body    adaptBody
	scratch []byte // small bodies, response header values, body copies
}

var adaptPool = sync.Pool{New: func() any { return new(adaptCtx) }}

// maxPooledScratch is the largest scratch buffer kept in the pool.
const maxPooledScratch = 256 << 10

func (a *adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > a.maxBody {
		a.plain(w, fasthttp.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	if !wellFormed(r) {
		a.plain(w, fasthttp.StatusBadRequest, "Bad Request")
		return
	}
	ts := a.ts
	if t := ts.certs.Load(); t != nil && r.TLS != nil && t.misdirected(r.TLS.ServerName, strBytes(r.Host)) {
		a.plain(w, fasthttp.StatusMisdirectedRequest, "Misdirected Request")
		return
	}
	ac := adaptPool.Get().(*adaptCtx)
	ac.conn.set(r)
	ctx := &ac.fctx
	ctx.Init2(&ac.conn, a.flog, false)
	req := &ctx.Request
	req.Header.SetMethod(r.Method)
	req.Header.SetProtocol(a.proto)
	req.Header.SetHost(r.Host)
	req.SetRequestURI(r.RequestURI)
	for k, vs := range r.Header {
		if k == "Host" { // r.Host is the host (wellFormed)
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if err := ac.readBody(r, a.maxBody); err != nil {
		// The client reset the stream or the body broke off: nobody
		// reads an answer.
		a.release(ac)
		return
	}
	req.URI().SetScheme("https")
	req.SetUserValue(requestContextKey{}, r.Context())

	ts.b.disp.Load().lookup(req.Header.Host()).serve(ctx)

	reuse := a.respond(w, r, ac)
	if reuse {
		a.release(ac)
	}
}

// wellFormed reports whether an HTTP/2 or HTTP/3 request names its target
// unambiguously. r.Host is the :authority (or, without one, the host
// field), and it alone picks the site: a host field that names another
// authority (RFC 9113 8.3.1, RFC 9114 4.3.1), or more than one, makes the
// request malformed, as does a :path that is not origin-form (an absolute
// "https://other/x" would name a second target; "*" is OPTIONS's).
func wellFormed(r *http.Request) bool {
	uri := r.RequestURI
	if uri == "" || (uri[0] != '/' && (uri != "*" || r.Method != fasthttp.MethodOptions)) {
		return false
	}
	hosts := r.Header["Host"]
	switch len(hosts) {
	case 0:
		return true
	case 1:
		return sameAuthority(hosts[0], r.Host)
	}
	return false
}

// sameAuthority compares two authorities as names: case aside, and with
// https's default port the same as none.
func sameAuthority(a, b string) bool {
	a, b = strings.TrimSuffix(a, ":443"), strings.TrimSuffix(b, ":443")
	return strings.EqualFold(a, b)
}

// plain answers a short text error without a RequestCtx.
func (a *adapter) plain(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = textPlainVals
	h["Server"] = serverVals
	if a.altSvc != nil {
		h["Alt-Svc"] = a.altSvc
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

var (
	textPlainVals = []string{"text/plain; charset=utf-8"}
	serverVals    = []string{"rockstar"}
)

// release resets ac and returns it to the pool.
func (a *adapter) release(ac *adaptCtx) {
	ctx := &ac.fctx
	if ctx.Hijacked() || ctx.LastTimeoutErrorResponse() != nil {
		// fasthttp cannot reset these; another goroutine may still hold ctx.
		return
	}
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.SetRemoteAddr(nil)
	ac.conn = adaptConn{}
	ac.body = adaptBody{}
	if cap(ac.scratch) > maxPooledScratch {
		ac.scratch = nil
	}
	adaptPool.Put(ac)
}

// readBody gives the request its body: read whole when small and of known
// length, else as a stream.
func (ac *adaptCtx) readBody(r *http.Request, maxBody int64) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	req := &ac.fctx.Request
	if n := r.ContentLength; n > 0 && n <= adapterSmallBody {
		if cap(ac.scratch) < int(n) {
			ac.scratch = make([]byte, n, max(int(n), 4<<10))
		}
		buf := ac.scratch[:n]
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return err
		}
		req.SetBodyRaw(buf)
		return nil
	}
	ac.body = adaptBody{r: r.Body, left: maxBody}
	req.SetBodyStream(&ac.body, int(r.ContentLength))
	return nil
}

// adaptBody streams a request body and enforces MaxRequestSize on bodies
// of unknown length. It is not an io.Closer: net/http closes the body.
type adaptBody struct {
	r        io.Reader
	left     int64
	tooLarge bool
}

func (b *adaptBody) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.tooLarge = true
		return n + int(b.left), fasthttp.ErrBodyTooLarge
	}
	return n, err
}

// respond writes ctx's response to w. It reports whether ac may be reused.
func (a *adapter) respond(w http.ResponseWriter, r *http.Request, ac *adaptCtx) bool {
	ctx := &ac.fctx
	resp := &ctx.Response
	reuse := true
	if tr := ctx.LastTimeoutErrorResponse(); tr != nil {
		resp, reuse = tr, false
	}
	if ac.body.tooLarge {
		resp.Reset()
		resp.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
		resp.SetBodyString("Request Entity Too Large")
	}
	status := resp.StatusCode()
	body, stream, length := responseBody(resp, r.Method == fasthttp.MethodHead)
	h := w.Header()
	ac.copyHeaders(h, &resp.Header, length)
	if a.altSvc != nil && h["Alt-Svc"] == nil {
		h["Alt-Svc"] = a.altSvc
	}
	if h["Server"] == nil {
		h["Server"] = serverVals
	}
	w.WriteHeader(status)
	if r.Method == fasthttp.MethodHead || !bodyAllowed(status) {
		if stream {
			_ = resp.CloseBodyStream()
		}
		return reuse
	}
	if !stream {
		if len(body) > 0 {
			_, _ = w.Write(body)
		}
		return reuse
	}
	ac.copyStream(w, resp, length < 0)
	return reuse
}

// copyStream copies a response body stream to w; with an unknown length
// each read is flushed at once (server-sent events, progress).
func (ac *adaptCtx) copyStream(w http.ResponseWriter, resp *fasthttp.Response, flush bool) {
	src := resp.BodyStream()
	fl, _ := w.(http.Flusher)
	if cap(ac.scratch) < 32<<10 {
		ac.scratch = make([]byte, 32<<10)
	}
	buf := ac.scratch[:cap(ac.scratch)]
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				break
			}
			if flush && fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			break
		}
	}
	_ = resp.CloseBodyStream()
}

// responseBody is what a response carries over HTTP/2 and HTTP/3: its
// body (nil when it streams), whether it streams, and the Content-Length
// to send (-1: none). A HEAD answer (static files) says how long the body
// would be.
func responseBody(resp *fasthttp.Response, head bool) (body []byte, stream bool, length int) {
	stream = resp.IsBodyStream()
	length = -1
	if stream {
		length = resp.Header.ContentLength()
	} else {
		body = resp.Body()
		length = len(body)
		if length == 0 && (head || resp.SkipBody) {
			if cl := resp.Header.ContentLength(); cl > 0 {
				length = cl
			}
		}
	}
	if !bodyAllowed(resp.StatusCode()) {
		length = -1
	}
	return body, stream, length
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != fasthttp.StatusNoContent && status != fasthttp.StatusNotModified
}

// copyHeaders copies fasthttp's response headers into h, all values in
// one string, Content-Length set from length (if >= 0), hop-by-hop
// headers dropped.
func (ac *adaptCtx) copyHeaders(h http.Header, rh *fasthttp.ResponseHeader, length int) {
	// Pass 1: what is kept, and the bytes it needs.
	var connTokens []byte // Connection's value: the headers it names are hop-by-hop too
	size, count := 0, 0
	for k, v := range rh.All() {
		if h2Forbidden(k) {
			if string(k) == "Connection" {
				connTokens = v
			}
			continue
		}
		if _, common := commonHeaders[string(k)]; !common {
			size += len(k)
		}
		size += len(v)
		count++
	}
	buf := ac.scratch[:0]
	if length >= 0 {
		buf = strconv.AppendInt(buf, int64(length), 10)
		count++
	}
	if cap(buf) < size+len(buf) {
		buf = append(make([]byte, 0, size+len(buf)+64), buf...)
	}
	var vals []string
	if count > 0 {
		vals = make([]string, count)
	}
	// Pass 2: fill buf, then cut the one string.
	for k, v := range rh.All() {
		if h2Forbidden(k) || (len(connTokens) > 0 && namedIn(connTokens, k)) {
			continue
		}
		if _, common := commonHeaders[string(k)]; !common {
			buf = append(buf, k...)
		}
		buf = append(buf, v...)
	}
	ac.scratch = buf
	s := string(buf)
	i, off := 0, 0
	if length >= 0 {
		n := decimalDigits(length)
		vals[0] = s[:n]
		h["Content-Length"] = vals[0:1:1]
		i, off = 1, n
	}
	for k, v := range rh.All() {
		if h2Forbidden(k) || (len(connTokens) > 0 && namedIn(connTokens, k)) {
			continue
		}
		key, common := commonHeaders[string(k)]
		if !common {
			key = s[off : off+len(k)]
			off += len(k)
		}
		vals[i] = s[off : off+len(v)]
		off += len(v)
		if old, ok := h[key]; ok {
			h[key] = append(old, vals[i])
		} else {
			h[key] = vals[i : i+1 : i+1]
		}
		i++
	}
}

// decimalDigits counts the decimal digits of n >= 0.
func decimalDigits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// h2Forbidden reports whether a response header must not cross into HTTP/2
// or HTTP/3 (RFC 9113 8.2.2), or is set by the adapter (Content-Length).
func h2Forbidden(k []byte) bool {
	switch string(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "TE", "Trailer", "Content-Length":
		return true
	}
	return false
}

// namedIn reports whether key is one of the comma-separated tokens of a
// Connection header.
func namedIn(tokens, key []byte) bool {
	for tok := range bytes.SplitSeq(tokens, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(tok), key) {
			return true
		}
	}
	return false
}

// commonHeaders interns the usual response header names, so that copying
// them allocates nothing.
var commonHeaders = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Allow", "Alt-Svc", "Cache-Control", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Location", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Date", "Etag", "ETag", "Expires", "Last-Modified",
		"Link", "Location", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Vary", "Www-Authenticate", "WWW-Authenticate",
		"X-Content-Type-Options", "X-Frame-Options", "X-Request-Id", "X-Xss-Protection",
	} {
		m[k] = k
	}
	return m
}()

// adaptConn is the connection a RequestCtx of the adapter reports: the
// stream's addresses and TLS state. It carries no bytes.
type adaptConn struct {
	streamConn
	state *tls.ConnectionState
}

// streamConn is the connection a RequestCtx of a multiplexed stream
// reports: its addresses only. Over cleartext HTTP/2 (h2c) it is the
// RequestCtx's connection itself; adaptConn adds TLS.
type streamConn struct{ local, remote net.Addr }

var errAdaptConn = errors.New("worker: an HTTP/2 or HTTP/3 stream has no connection to read or write")

// set takes the addresses and TLS state of r's connection.
func (c *adaptConn) set(r *http.Request) {
	ctx := r.Context()
	if a, ok := ctx.Value(quicRemoteKey{}).(*net.TCPAddr); ok {
		c.remote = a // HTTP/3 (tls_h3conns.go)
	} else {
		c.remote, _ = ctx.Value(http3.RemoteAddrContextKey).(net.Addr)
	}
	c.local, _ = ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if c.remote == nil {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			c.remote = net.TCPAddrFromAddrPort(ap)
		}
	}
	c.state = r.TLS
}

func (c *streamConn) Read([]byte) (int, error)         { return 0, errAdaptConn }
func (c *streamConn) Write([]byte) (int, error)        { return 0, errAdaptConn }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return orZeroAddr(c.local) }
func (c *streamConn) RemoteAddr() net.Addr             { return orZeroAddr(c.remote) }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// Handshake and ConnectionState make fasthttp see a TLS connection
// (ctx.IsTLS, ctx.TLSConnectionState).
func (c *adaptConn) Handshake() error { return nil }
func (c *adaptConn) ConnectionState() tls.ConnectionState {
	if c.state == nil {
		return tls.ConnectionState{}
	}
	return *c.state
}

var zeroAddr net.Addr = &net.TCPAddr{IP: net.IPv4zero}

func orZeroAddr(a net.Addr) net.Addr {
	if a == nil {
		return zeroAddr
	}
	return a
}
