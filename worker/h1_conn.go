package worker

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// serverConn is the connection a binding's listener hands out (under TLS,
// when the binding has it). One type does three things, so that each Read
// and Write goes through one wrapper instead of a chain of them:
//
//   - it keeps the socket's deadlines lazily (h1_deadline.go);
//   - it can linger when closed (h1_linger.go);
//   - while it serves HTTP/1.1 it applies the server's ReadTimeout,
//     WriteTimeout and IdleTimeout itself (phase timeouts, below).
type serverConn struct {
	lazyDeadlineConn

	linger atomic.Bool // lingerOnClose was called
	// ownWrite: a write deadline was set from outside since the last
	// request began. Any goroutine may set it (tls.Conn.Close sets one).
	ownWrite atomic.Bool
	// hold: set when the connection is hijacked; it then counts among
	// its binding's connections until it closes (binding.go).
	hold atomic.Pointer[hijackHold]

	// The phase timeouts. Only the goroutine serving the connection reads
	// or changes these fields: phases start before the connection reaches
	// fasthttp (at Accept, or after the TLS handshake) and stop in the
	// request handler's goroutine before a hijacked connection is handed
	// on.
	g         *connGroup // nil: no phases (TLS handshake, HTTP/2, hijacked)
	phase     connPhase
	readStart time.Duration // when the current request's first bytes came, on g's clock

	hw headWatch // on plain TCP (h1_headwatch.go); under TLS the tlsConn above has it
	// sniffed: the first bytes were looked at for HTTP/2's preface (h2c,
	// tls_h2_cleartext.go).
	sniffed bool
}

// Phase timeouts. fasthttp applies its timeouts by setting a socket
// deadline from time.Now() three times a request: the idle timeout, the
// read timeout at the request's first byte, the write timeout before the
// response. In a worker under wrk those calls, with their six clock reads,
// cost about 0.4 µs a request, 4% of all its CPU time. So a binding gives
// fasthttp no timeouts, and the connection applies them itself as its I/O
// moves through the phases of a keep-alive exchange, reading only the
// monotonic clock (time.Since on a monotonic base costs half a time.Now):
//
//	phaseNew    accepted or handshaken; until the first request has been
//	            read, the read deadline is ReadTimeout after this (as in
//	            fasthttp, the first request's whole read counts from the
//	            connection's start)
//	phaseRead   a request's first bytes came: the read deadline is
//	            ReadTimeout after them, for its headers and its body
//	phaseWrite  the handler ended (reqClock.took) and its response is
//	            written next: the write deadline is WriteTimeout after
//	            that, unless the handler set one
//	            (RequestCtx.SetWriteDeadline)
//	phaseIdle   the first Read after writing waits for the next request:
//	            the read deadline is IdleTimeout after that
//
// The deadlines land in the lazy deadline store, so a busy connection
// still reaches the socket only when a timer fires. The clock is read
// three times a request: when its first bytes come, which is also its
// start for the metrics and limits; when its handler ends, which is also
// its end for the metrics; and when the idle phase begins.
//
// Write and ReadFrom change nothing here: under TLS another goroutine
// writes too (tls.Conn.Close sends its close_notify alert from whichever
// goroutine closes the connection), so only the serving goroutine's own
// steps (a Read, the start and the end of a handler) move the phases.
type connPhase uint8

const (
	phaseNew connPhase = iota
	phaseRead
	phaseWrite
	phaseIdle
)

// connGroup is what the HTTP/1.1 connections of one binding share: the
// timeouts they apply, the base of their clock, and the yield gate.
type connGroup struct {
	read, write, idle time.Duration
	h2c               *h2Server // cleartext HTTP/2 by prior knowledge; nil: off
	base              time.Time // carries a monotonic reading
	yields            yieldGate
}

func newConnGroup(cfg ServerConfig) *connGroup {
	return &connGroup{read: cfg.ReadTimeout, write: cfg.WriteTimeout, idle: cfg.IdleTimeout, base: time.Now()}
}

// now is the monotonic time since base.
func (g *connGroup) now() time.Duration { return time.Since(g.base) }

// at is the time.Time of d on g's clock.
func (g *connGroup) at(d time.Duration) time.Time { return g.base.Add(d) }

// connListener hands out serverConns. With g set it starts their phases
// at once (plain TCP); under TLS they start after the handshake, and only
// on connections that chose HTTP/1.1.
type connListener struct {
	net.Listener
	g *connGroup
}

func (l connListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &serverConn{lazyDeadlineConn: lazyDeadlineConn{Conn: c}}
	if l.g != nil {
		sc.startPhases(l.g)
	}
	return sc, nil
}

// startPhases begins applying g's timeouts: the connection is new.
func (c *serverConn) startPhases(g *connGroup) { c.startPhasesUntil(g, 0) }

// startPhasesUntil begins applying g's timeouts to a connection whose
// first request is to be read by readBy, on g's clock (the event loop
// hands on a request that began there); 0: ReadTimeout from now.
func (c *serverConn) startPhasesUntil(g *connGroup, readBy time.Duration) {
	c.g = g
	c.phase = phaseNew
	c.ownWrite.Store(false) // the TLS handshake's deadline is no handler's
	if readBy == 0 {
		readBy = g.now() + g.read
	}
	_ = c.set(g.at(readBy), true, false)
}

// stopPhases ends the phase timeouts and clears the deadlines they set;
// the connection's owner sets its own from now on.
func (c *serverConn) stopPhases() {
	if c.g == nil {
		return
	}
	c.g = nil
	_ = c.set(time.Time{}, true, true)
}

// serverConnOf finds the serverConn under c, if there is one.
func serverConnOf(c net.Conn) *serverConn {
	switch tc := c.(type) {
	case *tlsConn:
		c = tc.NetConn()
	case *tls.Conn:
		c = tc.NetConn()
	}
	sc, _ := c.(*serverConn)
	return sc
}

// Read moves the phases: the first Read after a response begins the idle
// phase (after a yield, h1_yield.go), and the first bytes after the idle
// phase begin the next request.
func (c *serverConn) Read(p []byte) (int, error) {
	if c.hw.stuck() {
		return 0, errBareLFHead
	}
	g := c.g
	if g == nil {
		n, err := c.Conn.Read(p)
		c.hw.saw(p[:n])
		return n, err
	}
	if c.phase == phaseWrite {
		c.phase = phaseIdle
		if c.ownWrite.Load() {
			c.ownWrite.Store(false)
		}
		g.yields.yield()
		_ = c.set(g.at(g.now()+g.idle), true, false)
	}
	n, err := c.Conn.Read(p)
	if !c.sniffed {
		c.sniffed = true
		if g.h2c != nil && n > 0 && h2cPrefix(p[:n]) {
			return c.serveH2C(g.h2c, p[:n])
		}
	}
	c.hw.saw(p[:n])
	if n > 0 {
		switch c.phase {
		case phaseNew:
			c.phase = phaseRead
			c.readStart = g.now()
		case phaseIdle:
			c.phase = phaseRead
			c.readStart = g.now()
			_ = c.set(g.at(c.readStart+g.read), true, false)
		}
	}
	return n, err
}

// ReadFrom passes a body copy on to the socket's own ReadFrom, so that a
// static file still goes out with sendfile.
func (c *serverConn) ReadFrom(r io.Reader) (int64, error) {
	return readFrom(c.Conn, r)
}

// beginResponse enters the write phase at now: the handler has ended and
// its response is written next.
func (c *serverConn) beginResponse(now time.Duration) {
	c.phase = phaseWrite
	if !c.ownWrite.Load() {
		_ = c.set(c.g.at(now+c.g.write), false, true)
	}
}

// SetWriteDeadline and SetDeadline note a deadline set by the connection's
// owner (a handler's RequestCtx.SetWriteDeadline): the write phase then
// keeps it instead of WriteTimeout, as fasthttp does.
func (c *serverConn) SetWriteDeadline(t time.Time) error {
	c.ownWrite.Store(true)
	return c.lazyDeadlineConn.SetWriteDeadline(t)
}

func (c *serverConn) SetDeadline(t time.Time) error {
	c.ownWrite.Store(true)
	return c.lazyDeadlineConn.SetDeadline(t)
}

// reqClock times one request: its start, when its first bytes came (on
// an HTTP/1.1 connection with phase timeouts) or else ctx.Time(); and its
// end, which on such a connection also starts the write phase. Every
// path that answers a request calls took before the answer is written.
type reqClock struct {
	start time.Time
	sc    *serverConn // nil: not a phased connection
	hw    *headWatch  // the connection's head watch; nil: none
}

// startClock starts timing ctx's request. A request that begins in the
// new phase came in with the TLS handshake; one that begins in the
// write phase came from the read buffer with no Read of its own (pipelined, or after a 100 Continue): it starts now,
// with a ReadTimeout of its own for the rest of its body, as each request
// gets one in fasthttp.
func startClock(ctx *fasthttp.RequestCtx) reqClock {
	hw := watchOf(ctx.Conn())
	if sc := serverConnOf(ctx.Conn()); sc != nil && sc.g != nil {
		switch sc.phase {
		case phaseNew:
			// Its bytes came with the TLS handshake's last read, before
			// the phases began; the connection's read deadline holds.
			sc.phase = phaseRead
			sc.readStart = sc.g.now()
		case phaseWrite:
			sc.phase = phaseRead
			sc.readStart = sc.g.now()
			if sc.ownWrite.Load() {
				sc.ownWrite.Store(false) // the last handler's
			}
			_ = sc.set(sc.g.at(sc.readStart+sc.g.read), true, false)
		}
		return reqClock{start: sc.g.at(sc.readStart), sc: sc, hw: hw}
	}
	if t := ctx.Time(); !t.IsZero() {
		return reqClock{start: t, hw: hw}
	}
	return reqClock{start: time.Now(), hw: hw}
}

// took reads the clock for the end of the request and returns its
// duration. On a phased connection the response's write phase begins.
func (rc reqClock) took() time.Duration {
	if rc.hw != nil {
		rc.hw.responding()
	}
	if rc.sc == nil || rc.sc.g == nil {
		return time.Since(rc.start)
	}
	now := rc.sc.g.now()
	rc.sc.beginResponse(now)
	return now - rc.sc.readStart
}

// readFrom copies r to c with c's ReadFrom when it has one. A kept-open
// static file (fasthttp hands its body over as an io.LimitedReader of it)
// goes to a TCP socket with sendfile at its own offset (sendFile).
func readFrom(c net.Conn, r io.Reader) (int64, error) {
	if n, sent, err := sendKept(c, r); sent {
		return n, err
	}
	if rf, ok := c.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c}, r)
}
