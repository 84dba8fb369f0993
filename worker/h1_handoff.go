//go:build linux

package worker

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// handoffListener is the listener a binding's fasthttp server accepts from
// when the binding has an event loop (h1_loop.go): the loop owns the
// listening socket, serves the requests it can, and hands each other
// connection on through here, so that the connections served by a goroutine
// each keep everything fasthttp's Serve gives them (its worker pool, the
// Concurrency limit, graceful shutdown of idle and busy connections).
//
// The loop never waits on it: hand queues the connection and returns.
type handoffListener struct {
	inner net.Listener // the listening socket, handing out serverConns; closed by Close
	addr  net.Addr
	// loopAccepts: the loop accepts now; while it does not, Accept takes
	// connections from inner itself.
	loopAccepts *atomic.Bool

	mu      sync.Mutex
	queue   []net.Conn
	closed  bool
	ready   chan struct{} // a token while the queue may be non-empty
	done    chan struct{} // closed by Close
	onClose func()        // tells the loop to stop accepting
}

func newHandoffListener(inner net.Listener, loopAccepts *atomic.Bool, onClose func()) *handoffListener {
	return &handoffListener{inner: inner, addr: inner.Addr(), loopAccepts: loopAccepts, ready: make(chan struct{}, 1), done: make(chan struct{}), onClose: onClose}
}

// hand queues c for Accept; after Close it closes c instead.
func (l *handoffListener) hand(c net.Conn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	l.queue = append(l.queue, c)
	l.mu.Unlock()
	l.nudge()
}

// nudge wakes a waiting Accept to look again.
func (l *handoffListener) nudge() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Accept returns the next connection handed on, or, while the loop does
// not accept, the next one from the listening socket; net.ErrClosed once
// the listener is closed.
func (l *handoffListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			more := len(l.queue) > 0
			l.mu.Unlock()
			if more {
				l.nudge()
			}
			return c, nil
		}
		l.mu.Unlock()
		if !l.loopAccepts.Load() {
			// A reload that makes a host inline finds this Accept
			// blocked here: it returns the next connection, and the
			// loop accepts the ones after it.
			return l.inner.Accept()
		}
		select {
		case <-l.ready:
		case <-l.done:
		}
	}
}

// Close stops Accept, closes the connections not yet accepted, tells the
// loop to stop accepting (it closes its dup of the listening socket), and
// closes the listener.
func (l *handoffListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	l.mu.Unlock()
	close(l.done)
	for _, c := range queued {
		_ = c.Close()
	}
	if l.onClose != nil {
		l.onClose()
	}
	return l.inner.Close()
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// handedConn is a connection the loop handed on: what the loop had read
// of it and not served (in) comes first, and what the loop could not yet
// write of its responses (out) is written before the first read, under
// the write timeout.
type handedConn struct {
	net.Conn
	in, out []byte
	write   time.Duration // WriteTimeout for out; 0: none
	// closeAfterOut: out ends with a Connection: close response, so the
	// first read after it ends the connection.
	closeAfterOut bool
}

func (c *handedConn) Read(p []byte) (int, error) {
	if err := c.flushOut(); err != nil {
		return 0, err
	}
	if c.closeAfterOut {
		return 0, io.EOF
	}
	if len(c.in) > 0 {
		n := copy(p, c.in)
		c.in = c.in[n:]
		if len(c.in) == 0 {
			c.in = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// flushOut writes out, if the loop left any, under WriteTimeout.
func (c *handedConn) flushOut() error {
	if len(c.out) == 0 {
		return nil
	}
	if c.write > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.write))
	}
	_, err := c.Conn.Write(c.out)
	c.out = nil
	if c.write > 0 {
		_ = c.Conn.SetWriteDeadline(time.Time{})
	}
	return err
}

func (c *handedConn) Write(p []byte) (int, error) {
	if err := c.flushOut(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// ReadFrom keeps sendfile for static files.
func (c *handedConn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.flushOut(); err != nil {
		return 0, err
	}
	return readFrom(c.Conn, r)
}

// CloseWrite passes a half-close on (lingering close, h1_linger.go).
func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
