package worker

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// binding is one listening address and the fasthttp server on it. Several
// Servers of one manager that listen on the same address share it; each
// request goes to the member that owns its host.
type binding struct {
	addr    string
	ln      net.Listener
	srv     *fasthttp.Server
	h2c     *h2Server // cleartext HTTP/2 (EnableHTTP2 without TLS); nil without
	body    bodyLimit // MaxRequestSize, for streamed bodies
	members []*server // guarded by the manager's lock; [0] serves unknown hosts
	disp    atomic.Pointer[dispatch]

	active atomic.Int64
	// maxConns is MaxConnections: connections past it, hijacked ones
	// included, are refused (fasthttp's Concurrency stops counting a
	// connection once it is hijacked).
	maxConns int64
	connMu   sync.Mutex
	conns    map[net.Conn]struct{}
	// connsClosed: closeConns has run, so a connection that Serve accepted
	// just before its listener closed is closed as soon as it shows up.
	connsClosed bool // guarded by connMu

	real *realIP    // TrustedProxies (realip.go); nil: none
	tls  *tlsServe  // TLS: the ALPN split, HTTP/2 and HTTP/3; nil on plain TCP
	loop *eventLoop // the event loop (h1_loop.go); nil: none

	stopping atomic.Bool
	draining atomic.Bool   // responses say Connection: close
	done     chan struct{} // closed when Serve has returned
	serveErr error         // set before done is closed
}

// h1WriteBuffer is the write buffer of an HTTP/1.1 response: headers and
// a body of up to about this size (a page or a stylesheet from memory, a
// compressed one, a proxied answer) leave in one write instead of two
// (fasthttp's default is 4 KiB). With ReduceMemoryUsage fasthttp takes
// the buffers from pools for each request and gives them back once it is
// answered, so an idle keep-alive connection holds neither its read nor
// its write buffer.
const h1WriteBuffer = 32 << 10

// newBinding prepares the fasthttp server for ln with cfg's limits.
func newBinding(addr string, ln net.Listener, cfg ServerConfig, log zerolog.Logger) *binding {
	b := &binding{addr: addr, ln: ln, conns: make(map[net.Conn]struct{}), done: make(chan struct{}),
		maxConns: int64(cfg.MaxConnections)}
	b.body.max = cfg.MaxRequestSize
	b.srv = &fasthttp.Server{
		Handler:      b.serve,
		ErrorHandler: b.refuse,
		Name:         "rockstar",
		// No ReadTimeout, WriteTimeout or IdleTimeout: the connections
		// apply cfg's themselves (h1_conn.go, phase timeouts), and the request
		// time is read only when asked for (startClock is the usual
		// source).
		LazyRequestTime:              true,
		ReadBufferSize:               cfg.MaxHeaderBytes,
		WriteBufferSize:              h1WriteBuffer,
		ReduceMemoryUsage:            true,
		MaxRequestBodySize:           int(cfg.MaxRequestSize),
		StreamRequestBody:            true, // limits: b.body
		HeaderReceived:               b.body.headerReceived,
		Concurrency:                  cfg.MaxConnections,
		CloseOnShutdown:              true,
		DisablePreParseMultipartForm: true,
		ConnState:                    b.connState,
		Logger:                       fasthttpLogger{log},
	}
	return b
}

// start serves in a goroutine owned by the binding; shutdown waits for it.
// If Serve fails without being asked to stop, failed runs first.
func (b *binding) start(failed func(*binding)) {
	b.tls.start()
	if b.loop != nil {
		b.loop.start(b)
	}
	go func() {
		defer close(b.done)
		err := b.srv.Serve(b.ln)
		if b.stopping.Load() {
			return
		}
		if err == nil {
			// fasthttp returns nil when the listener is closed under it.
			err = net.ErrClosed
		}
		if b.loop != nil {
			b.loop.stop() // the binding is gone: so are its loop's connections
		}
		b.serveErr = err
		failed(b)
	}()
}

func (b *binding) serve(ctx *fasthttp.RequestCtx) {
	if !b.admitRequest(ctx) {
		return
	}
	if b.tls != nil {
		if !b.tls.admitHTTP1(ctx) {
			startClock(ctx).took() // its 421 is written next: the Host belongs to another certificate than the SNI
			return
		}
		defer b.tls.advertise(ctx) // Alt-Svc, whatever answered
	}
	hs := b.disp.Load().lookup(ctx.Host())
	if !b.admitBody(ctx, hs) {
		return
	}
	hs.serve(ctx)
	if !hs.streamBody && ctx.Request.IsBodyStream() {
		discardBody(ctx) // HTTP/1.1 keep-alive reads the next request after it
	}
	if ctx.Hijacked() {
		b.holdHijacked(ctx)
	}
}

// holdHijacked hands a hijacked connection to its hijack handler, which
// owns it and its deadlines from now on (it runs once the handler
// returns); the connection still counts among the binding's until it
// closes.
func (b *binding) holdHijacked(ctx *fasthttp.RequestCtx) {
	if sc := serverConnOf(ctx.Conn()); sc != nil {
		sc.stopPhases()
		sc.hold.Store(&hijackHold{b: b, key: ctx.Conn()})
	}
	stopWatch(ctx.Conn())
}

// admitRequest runs the checks every HTTP/1.1 request passes before its
// host is looked up, on a goroutine or on the event loop; false: it has
// been answered (400, h1_smuggling.go).
func (b *binding) admitRequest(ctx *fasthttp.RequestCtx) bool {
	if b.draining.Load() || b.stopping.Load() {
		// Close each keep-alive connection after its next response, which
		// says so, instead of closing it while the client may be sending.
		// (fasthttp's CloseOnShutdown does this on a goroutine once
		// shutdown begins; the event loop needs it said.)
		ctx.SetConnectionClose()
	}
	if !b.admitHead(ctx) {
		startClock(ctx).took() // its 400 is written next (h1_smuggling.go)
		return false
	}
	return true
}

func (b *binding) connState(c net.Conn, st fasthttp.ConnState) {
	watchConnState(c, st)
	switch st {
	case fasthttp.StateNew:
		b.track(c)
	case fasthttp.StateClosed:
		b.untrack(c)
	case fasthttp.StateHijacked:
		if sc := serverConnOf(c); sc == nil || sc.hold.Load() == nil {
			b.untrack(c)
		} // else it leaves when it closes (hijackHold)
	}
}

// hijackHold keeps a hijacked connection among its binding's active ones,
// where MaxConnections, the metrics, Drain and Close see it, until the
// connection closes (fasthttp closes it when its hijack handler returns;
// closeConns closes it on shutdown).
type hijackHold struct {
	b        *binding
	key      net.Conn // the connection as the binding tracks it
	released atomic.Bool
}

// releaseHold untracks a held hijacked connection, once; serverConn.Close
// calls it.
func (c *serverConn) releaseHold() {
	if h := c.hold.Load(); h != nil && h.released.CompareAndSwap(false, true) {
		h.b.untrack(h.key)
	}
}

// refusedConn is the answer to a connection over MaxConnections.
const refusedConn = "HTTP/1.1 503 Service Unavailable\r\nServer: rockstar\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nContent-Length: 57\r\n\r\n" +
	"Service Unavailable: the server has too many connections\n"

// track counts a new connection among the active ones, so that metrics,
// Drain and Close see it; one that arrives after Close is closed at once.
func (b *binding) track(c net.Conn) {
	n := b.active.Add(1)
	b.connMu.Lock()
	b.conns[c] = struct{}{}
	late := b.connsClosed
	b.connMu.Unlock()
	switch {
	case late:
		_ = c.Close()
	case b.maxConns > 0 && n > b.maxConns:
		// Over MaxConnections with hijacked connections counted. fasthttp
		// then serves a closed connection, which ends at once.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, refusedConn)
		_ = c.Close()
	}
}

// untrack forgets a connection that closed or was hijacked.
func (b *binding) untrack(c net.Conn) {
	b.active.Add(-1)
	b.connMu.Lock()
	delete(b.conns, c)
	b.connMu.Unlock()
}

// shutdown stops accepting, lets in-flight requests finish (their responses
// say Connection: close), closes idle keep-alive connections, and waits for
// the rest until ctx ends; then it closes what is left and returns an error
// that wraps ctx's cause.
func (b *binding) shutdown(ctx context.Context) error {
	b.stopping.Store(true)
	extra := b.tls.shutdown(ctx) // HTTP/2 and HTTP/3: GOAWAY, then wait as fasthttp does
	if b.h2c != nil {
		extra = b.h2cShutdown(ctx, extra)
	}
	err := b.srv.ShutdownWithContext(ctx)
	// Serve may not have taken the listener yet; closing it ourselves makes
	// sure it returns.
	_ = b.ln.Close()
	if extra != nil {
		// HTTP/2 and HTTP/3 streams left at the deadline fail the shutdown
		// as much as HTTP/1.1 requests do.
		if xerr := <-extra; err == nil {
			err = xerr
		}
	}
	if ctx.Err() == nil {
		err = nil // closing an already closed listener is no failure
	}
	if err != nil {
		err = context.Cause(ctx)
		if !errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = errors.Join(err, context.DeadlineExceeded)
		}
	}
	b.closeConns()
	<-b.done
	return err
}

// h2cShutdown sends GOAWAY on the cleartext HTTP/2 connections and waits
// for them until ctx ends, beside tls (the TLS side's result, or nil); it
// yields both results joined, once.
func (b *binding) h2cShutdown(ctx context.Context, tls <-chan error) <-chan error {
	out := make(chan error, 1)
	go func() {
		err := b.h2c.shutdown(ctx)
		if tls != nil {
			err = errors.Join(err, <-tls)
		}
		out <- err
	}()
	return out
}

// closeConns closes the connections that are still open. It does not wait
// for their goroutines: the caller's deadline has passed (or there is
// none, Close), and a handler still running past it is not waited for;
// its response finds its connection closed.
func (b *binding) closeConns() {
	if b.loop != nil {
		b.loop.stop()
	}
	b.connMu.Lock()
	b.connsClosed = true
	open := make([]net.Conn, 0, len(b.conns))
	for c := range b.conns {
		open = append(open, c)
	}
	b.connMu.Unlock()
	// Closed without the lock: closing a held hijacked connection
	// untracks it.
	for _, c := range open {
		_ = c.Close()
	}
}

// dialAddr is an address a health check can connect to.
func (b *binding) dialAddr() string {
	a, ok := b.ln.Addr().(*net.TCPAddr)
	if !ok {
		return b.ln.Addr().String()
	}
	ip := a.IP
	if ip.IsUnspecified() {
		if ip.To4() != nil {
			ip = net.IPv4(127, 0, 0, 1)
		} else {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))
}

// refuse answers a request fasthttp could not read (413, 431, 400, 408)
// and counts it, and logs it when the access log is on, under its host if
// its headers were read, else under the default host.
func (b *binding) refuse(ctx *fasthttp.RequestCtx, err error) {
	errorHandler(ctx, err)
	d := b.disp.Load()
	if d == nil {
		return
	}
	hs := d.lookup(ctx.Host())
	if hs.real != nil && len(ctx.Request.Header.Host()) > 0 {
		hs.real.apply(ctx) // its headers were read: the access log names the client
	}
	if hs.access != nil {
		hs.access.requestID(ctx)
		echoID(ctx)
	}
	took := startClock(ctx).took()
	status, out := ctx.Response.StatusCode(), len(ctx.Response.Body())
	hs.cell.record(status, len(ctx.Request.Header.RawHeaders()), out, took)
	if hs.access != nil {
		hs.access.log(ctx, &accessEntry{status: status, out: out, took: took, host: hs.name, tenant: hs.tenant})
	}
}

// errorHandler answers requests fasthttp could not read.
func errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		ctx.Error("Request Header Fields Too Large", fasthttp.StatusRequestHeaderFieldsTooLarge)
		lingerOnClose(ctx)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ctx.Error("Request Entity Too Large", fasthttp.StatusRequestEntityTooLarge)
		lingerOnClose(ctx)
	case errors.As(err, &netErr) && netErr.Timeout():
		ctx.Error("Request Timeout", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
	}
}

// fasthttpLogger sends fasthttp's own messages to zerolog.
type fasthttpLogger struct{ log zerolog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug().Msgf(format, args...)
}
