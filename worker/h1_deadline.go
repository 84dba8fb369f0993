package worker

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Lazy deadlines. A keep-alive connection gets three deadlines for every
// request: the idle timeout, then the read timeout once the request
// begins, then the write timeout (the phase timeouts of h1_conn.go set them;
// fasthttp, when it applied its own timeouts, did the same). Each, on the
// socket, would be a call into the runtime
// poller that locks the descriptor and moves one of its timers, and each
// moved timer is more work for the scheduler; in profiles of a worker
// under wrk they were a few per cent of all its CPU time, for timeouts of
// tens of seconds that a busy connection never reaches.
//
// A lazyDeadlineConn keeps its read and write deadlines in memory instead, and
// one timer per connection fires no later than the earliest of them. When
// it fires, a deadline that has come (or is within armSlack) is armed on
// the socket at its exact time, so that I/O fails then, as it would have;
// one that has moved later is waited for again. A busy connection thus
// costs a timer firing per timeout period instead of three poller calls
// per request. Deadlines within armSlack of now, and any change to a
// deadline already armed, go to the socket at once.

// armSlack: a deadline this close to now is armed on the socket directly.
const armSlack = 5 * time.Millisecond

// lazyDeadlineConn is a net.Conn whose deadlines are kept lazily.
type lazyDeadlineConn struct {
	net.Conn

	mu     sync.Mutex
	rd, wd time.Time // the deadlines; zero: none
	// armedR and armedW say the socket holds rd or wd.
	armedR, armedW bool
	timer          *time.Timer // fires at due
	due            time.Time   // zero: not scheduled
	closed         bool
}

func newLazyDeadlineConn(c net.Conn) *lazyDeadlineConn { return &lazyDeadlineConn{Conn: c} }

func (c *lazyDeadlineConn) SetReadDeadline(t time.Time) error {
	return c.set(t, true, false)
}

func (c *lazyDeadlineConn) SetWriteDeadline(t time.Time) error {
	return c.set(t, false, true)
}

func (c *lazyDeadlineConn) SetDeadline(t time.Time) error {
	return c.set(t, true, true)
}

// set records t as the read and/or write deadline. The common case, a
// deadline no earlier than the timer's, takes the lock and a few stores.
func (c *lazyDeadlineConn) set(t time.Time, read, write bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.setSocket(t, read, write)
	}
	// A deadline armed on the socket is taken off it first: the new one
	// may be later.
	var err error
	if read {
		c.rd = t
		if c.armedR {
			c.armedR = false
			err = c.Conn.SetReadDeadline(time.Time{})
		}
	}
	if write {
		c.wd = t
		if c.armedW {
			c.armedW = false
			err = errors.Join(err, c.Conn.SetWriteDeadline(time.Time{}))
		}
	}
	if !t.IsZero() && (c.due.IsZero() || t.Before(c.due)) {
		err = errors.Join(err, c.armLocked(time.Now()))
	}
	return err
}

// setSocket sets the socket's own deadlines.
func (c *lazyDeadlineConn) setSocket(t time.Time, read, write bool) error {
	switch {
	case read && write:
		return c.Conn.SetDeadline(t)
	case read:
		return c.Conn.SetReadDeadline(t)
	default:
		return c.Conn.SetWriteDeadline(t)
	}
}

// armLocked puts on the socket every deadline within armSlack of now, and
// schedules the timer for the earliest of the others.
func (c *lazyDeadlineConn) armLocked(now time.Time) error {
	var err error
	var next time.Time
	if !c.rd.IsZero() && !c.armedR {
		if c.rd.Sub(now) <= armSlack {
			c.armedR = true
			err = c.Conn.SetReadDeadline(c.rd)
		} else {
			next = c.rd
		}
	}
	if !c.wd.IsZero() && !c.armedW {
		if c.wd.Sub(now) <= armSlack {
			c.armedW = true
			err = errors.Join(err, c.Conn.SetWriteDeadline(c.wd))
		} else if next.IsZero() || c.wd.Before(next) {
			next = c.wd
		}
	}
	c.due = next
	if !next.IsZero() {
		d := next.Sub(now)
		if c.timer == nil {
			c.timer = time.AfterFunc(d, c.fire)
		} else {
			c.timer.Reset(d)
		}
	}
	return err
}

// fire runs when the timer does.
func (c *lazyDeadlineConn) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	_ = c.armLocked(time.Now())
}

// stop ends the lazy bookkeeping: from now on deadlines go to the socket.
// The deadlines not yet armed are dropped, as closing drops them.
func (c *lazyDeadlineConn) stop() {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

func (c *lazyDeadlineConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// CloseWrite shuts the write side, for the lingering close.
func (c *lazyDeadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
