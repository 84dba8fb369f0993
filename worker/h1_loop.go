//go:build linux

package worker

import (
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// The event loop. A plain-TCP HTTP/1.1 binding on Linux accepts its
// connections on one goroutine that waits for all of them at once
// (h1_loop_linux.go), as nginx's workers do, instead of a goroutine per
// connection that reads its next request as soon as it has answered the
// last. Under wrk, with the workers sharing their CPUs with the clients,
// that read found nothing more than a third of the time, and each worker
// went idle and woke up again for each connection: the loop reads each
// connection only when the kernel says it has bytes, and wakes once for
// all the connections that have.
//
// The loop serves a request itself only when all of it is in what it read
// and its host is inline (HostConfig.Inline: its handler never blocks, as a
// respond host's does not). Every other connection is handed on, with what
// the loop has read of it and what it could not yet write, to the
// binding's fasthttp server, which serves it on a goroutine from then on as
// it serves every connection without the loop: a request with a body,
// HTTP/1.0, a head the loop cannot parse or that is over MaxHeaderBytes
// (fasthttp answers it with its 400 or 431), a host that is not inline,
// and a connection whose responses did not fit in the socket's buffer. A
// head that comes in pieces waits on the loop for the rest, up to
// ReadTimeout after its first bytes (then the connection is closed), as a
// slow client's does on a goroutine. So what the loop itself has to get
// right is small: a whole request head without a body, answered at once.
//
// While no host of the binding is inline the loop does not accept: the
// fasthttp server accepts from the socket itself (handoffListener), so
// Go handlers and static files pay nothing for the loop. A reload that
// makes a host inline turns the loop's accepting on again.
//
// Its connections keep the server's timeouts: ReadTimeout until a new
// connection's first request, IdleTimeout between requests (checked by a
// sweep ten times per timeout), and MaxConnections counts them with the
// handed-on ones; the one over the limit gets fasthttp's 503.

// errLoopConnIO: a handler on the event loop tried to read or write its
// connection itself, which only the loop does.
var errLoopConnIO = errors.New("worker: an event-loop connection is read and written by its loop only")

// loopConn is a connection the event loop serves; it is the net.Conn a
// RequestCtx on the loop sees (ctx.Conn, ctx.RemoteAddr).
type loopConn struct {
	fd           int
	laddr, raddr net.Addr
	until        time.Duration // on the loop's clock: closed after this; 0: never
	closeAsked   bool          // a handler called Close: close after the response
	// head is the start of a request whose head has not all come yet;
	// nil between requests. until is then ReadTimeout after its first
	// bytes.
	head []byte
}

func (c *loopConn) Read([]byte) (int, error)         { return 0, errLoopConnIO }
func (c *loopConn) Write([]byte) (int, error)        { return 0, errLoopConnIO }
func (c *loopConn) Close() error                     { c.closeAsked = true; return nil }
func (c *loopConn) LocalAddr() net.Addr              { return c.laddr }
func (c *loopConn) RemoteAddr() net.Addr             { return c.raddr }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }

// verdict is what the loop does with the request at the head of what it read.
type verdict uint8

const (
	served      verdict = iota // answered; go on with the next
	servedClose                // answered; close the connection after writing
	handOn                     // hand the connection on, from this request
	needMore                   // the head is not all there yet: wait for the rest
)

// outBuf collects a connection's responses until the loop writes them.
type outBuf []byte

func (o *outBuf) Write(p []byte) (int, error) {
	*o = append(*o, p...)
	return len(p), nil
}

// headerEnd is the length of the request head at the start of b (through
// its blank line), or -1 when b holds no whole head. The blank line may
// end in a bare LF, or follow a line that does ("\n\n", "\n\r\n"):
// fasthttp refuses such a head (h1_headwatch.go), so the loop must not wait
// for more after it.
func headerEnd(b []byte) int {
	end := -1
	if i := bytes.Index(b, []byte("\n\r\n")); i >= 0 {
		end = i + 3 // CRLFCRLF, or a bare LF line before CRLF
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 && (end < 0 || i+2 < end) {
		end = i + 2
	}
	return end
}

// requestLineDone reports whether b, the start of a request whose head
// has not all come, holds its whole request line and that line is not an
// HTTP/1.1 one the loop could serve (HTTP/0.9's "GET /", HTTP/1.0):
// fasthttp judges it, at once, without waiting for the rest. Empty lines
// before it (a CRLF some clients send after a body) are skipped, as
// fasthttp skips them.
func requestLineDone(b []byte) bool {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	line := b[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return !bytes.HasSuffix(line, []byte(" HTTP/1.1"))
}

// plainTarget reports whether uri is an origin-form request target
// ("/path?query") that fasthttp's URI parser accepts as it is: no control
// bytes, not "//" (which it reads as an authority).
func plainTarget(uri []byte) bool {
	if len(uri) == 0 || uri[0] != '/' || (len(uri) > 1 && uri[1] == '/') {
		return false
	}
	for _, c := range uri {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// loopCanServe reports whether the loop may answer the request whose head
// h is; the others are handed on.
func loopCanServe(req *fasthttp.Request) bool {
	h := &req.Header
	cl := h.ContentLength() // -2: none given, so no body; -1: chunked
	return (cl == 0 || cl == -2) && h.IsHTTP11() && !req.MayContinue() && plainTarget(h.RequestURI()) && bytes.IndexByte(h.Host(), '@') < 0
}

// sweepInterval is how often the loop looks for connections past their
// timeout: a tenth of the shortest, between 10 ms and a second.
func sweepInterval(read, idle time.Duration) time.Duration {
	d := time.Second
	for _, t := range []time.Duration{read, idle} {
		if t > 0 && t/10 < d {
			d = t / 10
		}
	}
	return max(d, 10*time.Millisecond)
}
