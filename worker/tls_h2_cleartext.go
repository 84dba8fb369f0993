package worker

import (
	"bytes"
	"io"
	"net"

	"golang.org/x/net/http2"
)

// Cleartext HTTP/2 with prior knowledge (h2c, RFC 9113 3.3): a plain-TCP
// server with EnableHTTP2 answers a connection that opens with HTTP/2's
// client preface with the HTTP/2 server, on the goroutine fasthttp gave
// the connection, and HTTP/1.1 to every other. The first bytes read from
// a connection (serverConn.Read, whether the event loop read them first
// or not) are looked at once; "PRI * HTTP/2.0" is no HTTP/1.1 request
// (fasthttp refuses it), so nothing HTTP/1.1 is taken for HTTP/2. The
// HTTP/1.1 Upgrade to h2c is not offered (RFC 9113 deprecates it).

var h2cPreface = []byte(http2.ClientPreface)

// h2cPrefix reports whether b begins HTTP/2's client preface (or is the
// beginning of it).
func h2cPrefix(b []byte) bool {
	n := min(len(b), len(h2cPreface))
	return n > 0 && bytes.Equal(b[:n], h2cPreface[:n])
}

// serveH2C reads the rest of the preface after first, then serves the
// connection as HTTP/2 until it ends; fasthttp then reads EOF and lets it
// go. A connection whose first bytes stop matching the preface is closed.
func (c *serverConn) serveH2C(h *h2Server, first []byte) (int, error) {
	have := append([]byte(nil), first...)
	var more [64]byte
	for len(have) < len(h2cPreface) {
		n, err := c.Conn.Read(more[:])
		have = append(have, more[:n]...)
		if !h2cPrefix(have) || err != nil {
			return 0, io.EOF
		}
	}
	if !bytes.HasPrefix(have, h2cPreface) {
		return 0, io.EOF
	}
	c.g = nil // HTTP/2 keeps its own deadlines
	h.serveCleartext(&prefixedConn{Conn: c.Conn, in: have}, 0)
	return 0, io.EOF
}

// prefixedConn reads in before the connection.
type prefixedConn struct {
	net.Conn
	in []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.in) > 0 {
		n := copy(p, c.in)
		c.in = c.in[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
