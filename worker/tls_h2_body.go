package worker

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// A host that streams request bodies (HostConfig.StreamRequestBody: the
// proxy) gets its HTTP/2 handler as soon as a request's headers are in;
// its body then comes through an h2Body, DATA frame by DATA frame, and
// the client may send only as much ahead as the handler has read (the
// stream's window is given back as it reads): a 100 MB upload is passed
// on, never held. Every other host gets its body whole, up to
// MaxRequestSize.

// errH2BodyBroken: the client broke its body's rules (window,
// content-length) and the stream was reset.
var errH2BodyBroken = errors.New("worker: HTTP/2 request body broke off")

// h2Body is a streamed request body: the reader pushes DATA into it, the
// handler reads. It outlives its stream's pooled state: the reader finds
// it by stream id (h2Conn.bodies) for as long as the client sends.
type h2Body struct {
	conn *h2Conn
	id   uint32
	max  int64 // MaxRequestSize

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	err      error // io.EOF once the body ended; why it broke off
	read     int64 // bytes the handler took
	unacked  int   // window taken back by the handler's reads, not yet given
	tune     h2Tuner
	received int64
	declared int64 // content-length, or -1
	done     bool  // the handler is finished with it: pushes are dropped
}

func newH2Body(c *h2Conn, id uint32, max, declared int64) *h2Body {
	b := &h2Body{conn: c, id: id, max: max, declared: declared, tune: h2Tuner{size: h2StreamWindow}}
	b.cond.L = &b.mu
	return b
}

// push takes a DATA frame's data (the reader's); end: END_STREAM. It
// returns the code to reset the stream with, or 0.
func (b *h2Body) push(data []byte, end bool) http2.ErrCode {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.err != nil {
		return 0
	}
	b.received += int64(len(data))
	switch {
	case int64(len(b.buf)+b.unacked+len(data)) > b.tune.size:
		b.err = errH2BodyBroken
		b.cond.Broadcast()
		return http2.ErrCodeFlowControl // more than its window
	case b.declared >= 0 && (b.received > b.declared || end && b.received != b.declared):
		b.err = errH2BodyBroken
		b.cond.Broadcast()
		return http2.ErrCodeProtocol // not its content-length
	case b.received > b.max:
		b.err = fasthttp.ErrBodyTooLarge
		b.cond.Broadcast()
		return 0 // the handler answers 413; the stream is reset after it
	}
	b.buf = append(b.buf, data...)
	if end {
		b.err = io.EOF
	}
	b.cond.Broadcast()
	return 0
}

// fail ends the body with err (the stream was reset, the connection went).
func (b *h2Body) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Read gives the handler what has come, waiting for more; it gives the
// client back the window of what it read.
func (b *h2Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.buf) == 0 && b.err == nil {
		b.cond.Wait()
	}
	if len(b.buf) == 0 {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[:copy(b.buf, b.buf[n:])]
	b.read += int64(n)
	b.unacked += n
	give := int64(0)
	if b.unacked >= 16<<10 && b.err == nil {
		give, b.unacked = int64(b.unacked), 0
		give += b.tune.gave(give, time.Now(), b.conn.rtt.get(), h2StreamWindowMax)
	}
	b.mu.Unlock()
	if give > 0 {
		c := b.conn
		c.wmu.Lock()
		if !c.broken {
			_ = c.fr.WriteWindowUpdate(b.id, uint32(give))
			c.dirty = true
			c.flushLocked()
		}
		c.wmu.Unlock()
	}
	return n, nil
}

// finish marks the handler done with the body; what still comes is
// dropped. It reports whether the client was still sending.
func (b *h2Body) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	b.buf = nil
	return b.err == nil || b.err == fasthttp.ErrBodyTooLarge
}
