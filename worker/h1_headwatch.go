package worker

import (
	"crypto/tls"
	"errors"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// errBareLFHead: a request head ended in a blank line with a bare LF
// ("\n\n", "\r\n\n", "\n\r\n") and nothing came after it.
var errBareLFHead = errors.New("worker: request head ends in a bare LF")

// headWatch keeps fasthttp from waiting for ever on a request head that
// ends in a bare LF. fasthttp takes a bare-LF blank line as the end of a
// head only when a CRLFCRLF comes somewhere after it in what it has read
// (so that it frames a stream as a peer that knows only CRLFCRLF would);
// until then it waits for more, and a client that sent all of its head
// waits for the answer: both until ReadTimeout. The connection fasthttp
// reads (a serverConn on plain TCP, a tlsConn under TLS) watches its own
// reads instead, and while fasthttp reads a head (from StateActive, its
// first byte, to HeaderReceived) a read that follows a bare-LF blank line
// fails at once: fasthttp answers 400 (errorHandler) and closes.
//
// What fasthttp holds of the head always ends with the last bytes read,
// so the watch keeps only those, from the start of the last response on
// (before it, they may be the end of the last request's body). A head
// whose bare-LF blank line has more bytes after it, or that was read
// whole before the last response began (pipelined behind it), still waits
// for ReadTimeout.
//
// Only the goroutine serving the connection touches a headWatch.
type headWatch struct {
	on     bool    // fasthttp reads this connection (StateNew)
	inHead bool    // fasthttp is reading a request head
	n      uint8   // how many bytes tail holds
	tail   [4]byte // the last bytes read since the last response began, the latest last
}

// saw notes p, bytes just read.
func (w *headWatch) saw(p []byte) {
	if !w.on || len(p) == 0 {
		return
	}
	if len(p) >= len(w.tail) {
		copy(w.tail[:], p[len(p)-len(w.tail):])
		w.n = uint8(len(w.tail))
		return
	}
	copy(w.tail[:], w.tail[len(p):])
	copy(w.tail[len(w.tail)-len(p):], p)
	w.n = min(w.n+uint8(len(p)), uint8(len(w.tail)))
}

// stuck reports whether fasthttp, reading a head, asks for more after a
// bare-LF blank line.
func (w *headWatch) stuck() bool {
	if !w.inHead || w.n < 2 || w.tail[3] != '\n' {
		return false
	}
	switch {
	case w.tail[2] == '\n':
		return true // "\n\n"
	case w.tail[2] == '\r' && w.n >= 3 && w.tail[1] == '\n':
		// "\n\r\n": bare unless it is the end of a CRLFCRLF. A byte
		// before it that is not known here was not a CR: had the head
		// ended in CRLFCRLF, fasthttp would not ask for more.
		return w.n < 4 || w.tail[0] != '\r'
	}
	return false
}

// responding forgets the tail: a response begins, and what was read
// before it is the last request's.
func (w *headWatch) responding() { w.n = 0 }

// watchConnState follows fasthttp's connection states: the watch starts
// with the connection, and a head begins with each request's first byte.
// (StateHijacked comes from the hijack handler's goroutine, too late:
// stopWatch ends the watch before that handler runs.)
func watchConnState(c any, st fasthttp.ConnState) {
	w := watchOf(c)
	if w == nil {
		return
	}
	switch st {
	case fasthttp.StateNew:
		w.on = true
	case fasthttp.StateActive:
		w.inHead = true
	}
}

// stopWatch ends c's watch: a handler hijacked it, and the goroutine its
// hijack handler runs on reads it from now on.
func stopWatch(c any) {
	if w := watchOf(c); w != nil {
		*w = headWatch{}
	}
}

// headerRead ends the head of h's request (HeaderReceived).
func headerRead(h *fasthttp.RequestHeader) {
	// HeaderReceived is given &ctx.Request.Header of the RequestCtx that
	// fasthttp's server reads into (and nothing else calls it): the
	// context, and through it the connection, is the struct around it.
	ctx := (*fasthttp.RequestCtx)(unsafe.Add(unsafe.Pointer(h), -int(ctxHeaderOffset)))
	if w := watchOf(ctx.Conn()); w != nil {
		w.inHead = false
	}
}

// ctxHeaderOffset is where a RequestCtx holds its request's header.
const ctxHeaderOffset = unsafe.Offsetof((*fasthttp.RequestCtx)(nil).Request) + unsafe.Offsetof((*fasthttp.Request)(nil).Header)

// watchOf is the head watch of c, a connection fasthttp serves; nil for
// one that has none.
func watchOf(c any) *headWatch {
	switch c := c.(type) {
	case *serverConn:
		return &c.hw
	case *tlsConn:
		return &c.hw
	}
	return nil
}

// tlsConn is an HTTP/1.1 connection under TLS as fasthttp reads it: the
// watch needs the plain text. It is still a TLS connection to fasthttp
// (ctx.IsTLS, ctx.TLSConnectionState).
type tlsConn struct {
	*tls.Conn
	hw headWatch
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if c.hw.stuck() {
		return 0, errBareLFHead
	}
	n, err := c.Conn.Read(p)
	c.hw.saw(p[:n])
	return n, err
}
