package worker

import (
	"io"
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
	// lingerMaxBytes bounds how much is read and thrown away. It is well
	// above a common body limit: a client refused with 413 at the headers
	// may still have all of its body to send, and a cap it passes ends in
	// the very reset the linger is for (nginx bounds only the time).
	lingerMaxBytes = 64 << 20
)

// Close closes at once, unless lingerOnClose marked the connection: then
// the first Close shuts the write side, reads and discards for up to
// lingerTimeout or lingerMaxBytes, and closes. Another Close meanwhile (a
// shutdown) closes at once and ends the wait.
func (c *serverConn) Close() error {
	defer c.releaseHold()
	if c.linger.CompareAndSwap(true, false) && c.CloseWrite() == nil {
		_ = c.lazyDeadlineConn.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerMaxBytes) // the socket itself: no phases
	}
	return c.lazyDeadlineConn.Close()
}

// lingerOnClose marks the request's connection to linger when it is closed.
func lingerOnClose(ctx *fasthttp.RequestCtx) {
	if sc := serverConnOf(ctx.Conn()); sc != nil {
		sc.linger.Store(true)
	}
}
