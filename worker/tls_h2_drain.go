package worker

import (
	"context"
	"time"

	"golang.org/x/net/http2"
)

// How an HTTP/2 connection ends: a graceful drain, GOAWAY, or closing.
//
// A graceful stop with a deadline (a reload's or an upgrade's drain, a
// GracefulShutdown) lets HTTP/2 connections leave at their client's pace:
// GOAWAY goes to a connection once it is quiet (no stream running and
// none opened for a drainQuiet tick), and to every connection still open
// drainLead before the deadline. A client with requests in flight is
// thus never told to go in the middle of its work while the deadline
// allows it to finish: load generators such as h2load do not reconnect
// after GOAWAY and count the next request as failed, and a browser's idle
// connection goes within a fraction of a second. Without a deadline
// (Close-like stops) every connection is told at once.
const (
	// drainQuiet is how often a draining server looks for quiet
	// connections.
	drainQuiet = 200 * time.Millisecond
	// drainLeadMax bounds drainLead: busy connections get GOAWAY a quarter
	// of the drain before its deadline, at most this long.
	drainLeadMax = 5 * time.Second
)

// drainConns tells the connections to go, as the comment above says,
// until they are all gone (done) or ctx ends.
func (s *h2Server) drainConns(ctx context.Context, done <-chan struct{}) {
	deadline, ok := ctx.Deadline()
	if !ok {
		s.drainWhere(func(*h2Conn) bool { return true })
		return
	}
	left := time.Until(deadline)
	all := time.NewTimer(left - min(left/4, drainLeadMax))
	defer all.Stop()
	tick := time.NewTicker(drainQuiet)
	defer tick.Stop()
	seen := make(map[*h2Conn]uint32)
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-all.C:
			s.drainWhere(func(*h2Conn) bool { return true })
			return
		case <-tick.C:
			s.drainWhere(func(c *h2Conn) bool {
				last, known := seen[c]
				now := c.maxSeen.Load()
				seen[c] = now
				return known && last == now && c.running.Load() == 0
			})
		}
	}
}

// drainWhere starts the drain of each connection that pick picks.
func (s *h2Server) drainWhere(pick func(*h2Conn) bool) {
	s.mu.Lock()
	conns := make([]*h2Conn, 0, len(s.conns))
	for c := range s.conns {
		if pick(c) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.startDrain()
	}
}

// drainPing is the PING whose answer ends a graceful drain's first phase.
var drainPing = [8]byte{'d', 'r', 'a', 'i', 'n', 'i', 'n', 'g'}

// drainRTT bounds how long startDrain waits for the client's PING answer.
const drainRTT = time.Second

// startDrain begins a graceful stop in two steps, as RFC 9113 6.8
// advises: a GOAWAY with the largest stream id tells the client to open
// no more streams, and a PING measures one round trip; once it is
// answered (or after drainRTT) the final GOAWAY names the last stream
// the client opened, so that the requests it sent before it learned of
// the stop are served, not refused. The connection closes once its
// streams end.
func (c *h2Conn) startDrain() {
	c.wmu.Lock()
	if !c.started {
		c.drainAsked = true // the reader drains after its SETTINGS
		c.wmu.Unlock()
		return
	}
	if c.draining || c.goneAway || c.broken {
		c.wmu.Unlock()
		return
	}
	c.draining = true
	_ = c.fr.WriteGoAway(1<<31-1, http2.ErrCodeNo, nil)
	_ = c.fr.WritePing(false, drainPing)
	c.dirty = true
	c.flushLocked()
	c.wmu.Unlock()
	time.AfterFunc(drainRTT, c.finishDrain)
}

// finishDrain sends the final GOAWAY of a graceful stop; once.
func (c *h2Conn) finishDrain() {
	c.goAway(http2.ErrCodeNo, false)
}

// goAway sends GOAWAY with the last stream id seen; a fatal one also
// closes the connection (after the frame is flushed).
func (c *h2Conn) goAway(code http2.ErrCode, fatal bool) {
	c.wmu.Lock()
	if !c.started {
		c.goneAway = true // nothing may be written before our SETTINGS
	}
	if !c.goneAway && !c.broken {
		c.goneAway = true
		c.lastStream = c.maxSeen.Load()
		_ = c.fr.WriteGoAway(c.lastStream, code, nil)
		c.dirty = true
		c.flushLocked()
	}
	if fatal {
		c.broken = true
		c.wcond.Broadcast()
	}
	idle := c.running.Load() == 0
	c.wmu.Unlock()
	if fatal || idle {
		// Ends the reader: a stream still running finds the connection
		// broken when it writes.
		_ = c.c.Close()
	}
}

// closeAll ends the connection: every stream is reset and the socket
// closed.
func (c *h2Conn) closeAll() {
	c.wmu.Lock()
	c.broken = true
	c.flushLocked()
	c.wcond.Broadcast()
	for _, b := range c.bodies {
		b.fail(errH2Canceled)
	}
	var drop []*h2Stream
	for _, st := range c.streams {
		if c.forgetLocked(st, true) {
			drop = append(drop, st)
		}
	}
	c.wmu.Unlock()
	for _, st := range drop {
		c.drop(st)
	}
	_ = c.c.Close()
	c.stopWriter()
}
