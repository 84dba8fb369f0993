package worker

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Lingering close. A connection refused before its request was read (a
// body over MaxRequestSize, headers over MaxHeaderBytes) still has the
// client's bytes arriving; closing a TCP socket with unread data sends a
// reset, and the reset can destroy the 413 or 431 before the client reads
// it. So such a connection first closes its write side, after the
// response, and discards what the client still sends for a while (nginx's
// lingering_close, net/http's closeWriteAndWait).
const (
	// lingerTimeout bounds the wait for the client to stop sending.
	lingerTimeout = 2 * time.Second
	// lingerMaxBytes bounds how much is read and thrown away.
	lingerMaxBytes = 4 << 20
)

// lingerListener hands out lingerConns.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: newLazyDeadlineConn(c)}, nil
}

// lingerConn is a connection that can be told to linger when closed.
type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

// Close closes at once, unless lingerOnClose marked the connection: then
// the first Close shuts the write side, reads and discards for up to
// lingerTimeout or lingerMaxBytes, and closes. Another Close meanwhile (a
// shutdown) closes at once and ends the wait.
func (c *lingerConn) Close() error {
	if c.linger.CompareAndSwap(true, false) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.Conn, lingerMaxBytes)
		}
	}
	return c.Conn.Close()
}

// lingerOnClose marks the request's connection to linger when it is closed.
func lingerOnClose(ctx *fasthttp.RequestCtx) {
	c := ctx.Conn()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

// ReadFrom keeps sendfile for static files (see lazyDeadlineConn.ReadFrom).
func (c *lingerConn) ReadFrom(r io.Reader) (int64, error) { return readFrom(c.Conn, r) }
