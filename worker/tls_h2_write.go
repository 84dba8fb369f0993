package worker

import (
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// respond writes st's response: HEADERS, then the body as DATA within
// the flow-control windows. A body that does not fit the windows, or that
// is a stream to read, is finished on a goroutine of its own (writeRest).
// It ends the stream.
func (c *h2Conn) respond(st *h2Stream, onReader bool) {
	ctx := &st.fctx
	resp := &ctx.Response
	if tr := ctx.LastTimeoutErrorResponse(); tr != nil {
		resp = tr
	}
	status := resp.StatusCode()
	head := ctx.IsHead()
	body, stream, length := responseBody(resp, head)
	noBody := head || !bodyAllowed(status)
	if noBody || (!stream && len(body) == 0) {
		body, stream = nil, false
		if resp.IsBodyStream() {
			_ = resp.CloseBodyStream()
		}
	}
	c.wmu.Lock()
	if st.reset || c.broken {
		c.wmu.Unlock()
		if stream {
			_ = resp.CloseBodyStream()
		}
		c.finish(st)
		return
	}
	c.hbuf = c.appendResponseHeaders(c.hbuf[:0], status, &resp.Header, length)
	end := body == nil && !stream
	c.writeHeaderBlock(st.id, c.hbuf, end)
	if end {
		c.afterWrite(onReader)
		c.wmu.Unlock()
		c.finish(st)
		return
	}
	if !stream {
		body = c.writeBodyLocked(st, body, true)
		if body == nil {
			c.afterWrite(onReader)
			c.wmu.Unlock()
			c.finish(st)
			return
		}
	}
	c.wmu.Unlock()
	// The rest waits for window, or reads a stream: neither on the reader
	// nor on a pool goroutine, which a client that never opens its window
	// would hold for WriteTimeout (a thousand such streams, and every
	// other client's handlers would wait for the pool).
	go c.writeRest(st, body)
}

// queueResponse hands st's answer to the connection's writer: one
// goroutine per connection, started with its first pooled answer, that
// writes the answers of the pool's handlers in batches, one flush for all
// that are ready, and ends with the connection. The pool's goroutines
// never wait on a socket, which a client that does not read would hold
// for WriteTimeout.
func (c *h2Conn) queueResponse(st *h2Stream) {
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		c.respond(st, false) // the connection is gone: respond only finishes st
		return
	}
	c.queue = append(c.queue, st)
	start := !c.writing
	if start {
		c.writing = true
		c.qdone = make(chan struct{})
		go c.writeQueued(c.qdone)
	}
	c.qmu.Unlock()
	if !start {
		c.qcond.Signal()
	}
}

// writeQueued is the connection's writer (queueResponse).
func (c *h2Conn) writeQueued(done chan struct{}) {
	defer close(done)
	var batch []*h2Stream
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 && !c.qclosed {
			c.qcond.Wait()
		}
		if len(c.queue) == 0 {
			c.qmu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.qmu.Unlock()
		for i, st := range batch {
			c.respond(st, true) // flushed below, once for the batch
			batch[i] = nil
		}
		c.wmu.Lock()
		c.flushLocked()
		c.wmu.Unlock()
	}
}

// stopWriter ends the connection's writer once it has written what is
// queued (to a broken connection, quickly), and waits for it.
func (c *h2Conn) stopWriter() {
	c.qmu.Lock()
	c.qclosed = true
	started := c.writing
	c.qmu.Unlock()
	c.qcond.Broadcast()
	if started {
		<-c.qdone
	}
}

// writeRest writes what respond could not write at once: the rest of a
// body, waiting for window, or a body stream, read as it comes. On a
// goroutine of its own, one per such stream: h2MaxStreams bounds them.
func (c *h2Conn) writeRest(st *h2Stream, body []byte) {
	defer c.finish(st)
	resp := &st.fctx.Response
	if tr := st.fctx.LastTimeoutErrorResponse(); tr != nil {
		resp = tr
	}
	if !resp.IsBodyStream() || body != nil {
		c.wmu.Lock()
		for body != nil {
			if !c.waitWindow(st) {
				break
			}
			body = c.writeBodyLocked(st, body, true)
			c.flushLocked()
		}
		c.wmu.Unlock()
		return
	}
	src := resp.BodyStream()
	defer resp.CloseBodyStream()
	if cap(st.scratch) < 16<<10 {
		st.scratch = make([]byte, 16<<10)
	}
	buf := st.scratch[:cap(st.scratch)]
	for {
		n, err := src.Read(buf)
		last := err != nil
		chunk := buf[:n]
		c.wmu.Lock()
		for len(chunk) > 0 || last {
			if len(chunk) > 0 && !c.waitWindow(st) {
				c.wmu.Unlock()
				return
			}
			if st.reset || c.broken {
				c.wmu.Unlock()
				return
			}
			rest := c.writeBodyLocked(st, chunk, last)
			if rest == nil {
				break
			}
			chunk = rest
		}
		c.flushLocked()
		c.wmu.Unlock()
		if last {
			if err != io.EOF {
				c.resetStream(st.id, http2.ErrCodeInternal)
			}
			return
		}
	}
}

// writeBodyLocked writes as much of body as the windows allow, in frames
// of at most the client's maximum size, END_STREAM with the last if end;
// it returns what is left, nil when all is written.
func (c *h2Conn) writeBodyLocked(st *h2Stream, body []byte, end bool) []byte {
	for {
		n := min(len(body), c.peerMaxFrame)
		n = int(min(int64(n), c.sendWindow, st.sendWindow))
		if n <= 0 && len(body) > 0 {
			return body
		}
		last := n == len(body)
		_ = c.fr.WriteData(st.id, last && end, body[:n])
		c.dirty = true
		c.sendWindow -= int64(n)
		st.sendWindow -= int64(n)
		body = body[n:]
		if last {
			return nil
		}
	}
}

// waitWindow waits, under wmu, until both windows are open, for at most
// WriteTimeout (a client that never opens them, a zero-window stall,
// gets its stream reset); false if the stream cannot be written.
func (c *h2Conn) waitWindow(st *h2Stream) bool {
	if c.sendWindow > 0 && st.sendWindow > 0 {
		return !st.reset && !c.broken
	}
	deadline := time.Now().Add(c.srv.write)
	wake := time.AfterFunc(c.srv.write, func() {
		c.wmu.Lock()
		c.wcond.Broadcast()
		c.wmu.Unlock()
	})
	defer wake.Stop()
	c.flushLocked()
	for (c.sendWindow <= 0 || st.sendWindow <= 0) && !st.reset && !c.broken {
		if !time.Now().Before(deadline) {
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeFlowControl)
			c.dirty = true
			c.flushLocked()
			st.reset = true
			return false
		}
		c.wcond.Wait()
	}
	return !st.reset && !c.broken
}

// afterWrite flushes now off the reader; the reader flushes a batch once
// it has read all the frames it has.
func (c *h2Conn) afterWrite(onReader bool) {
	if !onReader {
		c.flushLocked()
	}
}

// finish ends st: out of the stream table, its handler done; pooled again.
// A streamed body the client is still sending is refused with RST_STREAM
// NO_ERROR (RFC 9113 8.1): the answer is complete without it.
func (c *h2Conn) finish(st *h2Stream) {
	if st.pipe != nil && st.pipe.finish() {
		c.wmu.Lock()
		if !st.reset && !c.broken {
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeNo)
			c.dirty = true
			c.flushLocked()
		}
		c.wmu.Unlock()
	}
	c.wmu.Lock()
	if !st.forgotten && c.streams[st.id] == st {
		delete(c.streams, st.id)
		st.forgotten = true
	}
	st.running = false
	c.wmu.Unlock()
	if c.running.Add(-1) == 0 {
		c.becameIdle()
	}
	st.release()
}

// becameIdle starts the idle timeout of a connection whose last stream
// ended, unless the reader has begun another since, and closes one that
// has sent GOAWAY.
func (c *h2Conn) becameIdle() {
	c.wmu.Lock()
	gone := c.goneAway
	if !gone && c.srv.idle > 0 && c.running.Load() == 0 {
		_ = c.c.SetReadDeadline(time.Now().Add(c.srv.idle))
		c.idleSet = true
	}
	if gone {
		c.flushLocked() // the last answers, not yet flushed by their batch
	}
	c.wmu.Unlock()
	if gone {
		_ = c.c.Close()
	}
}

// writeHeaderBlock writes block as HEADERS and as many CONTINUATIONs as
// the client's frame size needs.
func (c *h2Conn) writeHeaderBlock(id uint32, block []byte, end bool) {
	first := true
	for {
		n := min(len(block), c.peerMaxFrame)
		last := n == len(block)
		if first {
			_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:n], EndStream: end, EndHeaders: last})
			first = false
		} else {
			_ = c.fr.WriteContinuation(id, last, block[:n])
		}
		block = block[n:]
		if last {
			break
		}
	}
	c.dirty = true
}

// appendResponseHeaders encodes a response's header block. Every field is
// a literal that is never indexed (RFC 7541 6.2.2), its name from the
// static table when it is there: nothing is kept per connection, and
// nothing allocates. Hop-by-hop fields are dropped, as HTTP/2 forbids.
func (c *h2Conn) appendResponseHeaders(dst []byte, status int, rh *fasthttp.ResponseHeader, length int) []byte {
	dst = appendStatus(dst, status)
	var connTokens []byte
	var hasServer bool
	for k, v := range rh.All() {
		if h2Forbidden(k) {
			if string(k) == "Connection" {
				connTokens = v
			}
			continue
		}
		if len(connTokens) > 0 && namedIn(connTokens, k) {
			continue
		}
		if string(k) == "Server" {
			hasServer = true
		}
		dst = appendField(dst, k, v)
	}
	if length >= 0 {
		var num [20]byte
		dst = appendIndexedName(dst, 28, strconv.AppendInt(num[:0], int64(length), 10)) // content-length
	}
	if !hasServer {
		dst = appendIndexedName(dst, 54, serverName) // server
	}
	var date [32]byte
	dst = appendIndexedName(dst, 33, fasthttp.AppendHTTPDate(date[:0], time.Now())) // date
	if ts := c.srv.ts; ts != nil && ts.altSvc != "" && len(rh.Peek("Alt-Svc")) == 0 {
		dst = appendField(dst, altSvcName, strBytes(ts.altSvc))
	}
	return dst
}

var (
	serverName = []byte("rockstar")
	altSvcName = []byte("Alt-Svc")
)

// appendStatus encodes :status, indexed when the static table has it.
func appendStatus(dst []byte, status int) []byte {
	switch status {
	case 200:
		return append(dst, 0x88)
	case 204:
		return append(dst, 0x89)
	case 206:
		return append(dst, 0x8a)
	case 304:
		return append(dst, 0x8b)
	case 400:
		return append(dst, 0x8c)
	case 404:
		return append(dst, 0x8d)
	case 500:
		return append(dst, 0x8e)
	}
	var num [8]byte
	return appendIndexedName(dst, 8, strconv.AppendInt(num[:0], int64(status), 10))
}

// appendField encodes one field, its name lowercased.
func appendField(dst, name, value []byte) []byte {
	if idx := staticName(name); idx > 0 {
		return appendIndexedName(dst, idx, value)
	}
	dst = append(dst, 0x00) // literal name, not indexed
	dst = appendHpackInt(dst, 7, 0, uint64(len(name)))
	for _, b := range name {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return appendHpackString(dst, value)
}

// appendIndexedName encodes a field whose name is static table entry idx.
func appendIndexedName(dst []byte, idx int, value []byte) []byte {
	dst = appendHpackInt(dst, 4, 0x00, uint64(idx))
	return appendHpackString(dst, value)
}

func appendHpackString(dst, s []byte) []byte {
	dst = appendHpackInt(dst, 7, 0, uint64(len(s)))
	return append(dst, s...)
}

// appendHpackInt encodes n with an n-bit prefix (RFC 7541 5.1) in a first
// byte whose other bits are first.
func appendHpackInt(dst []byte, prefix uint, first byte, n uint64) []byte {
	limit := uint64(1)<<prefix - 1
	if n < limit {
		return append(dst, first|byte(n))
	}
	dst = append(dst, first|byte(limit))
	n -= limit
	for n >= 128 {
		dst = append(dst, byte(n&0x7f|0x80))
		n >>= 7
	}
	return append(dst, byte(n))
}

// staticName is the static table index (RFC 7541 appendix A) of the usual
// response header names, in fasthttp's canonical case; 0 for others.
func staticName(k []byte) int {
	switch string(k) {
	case "Accept-Ranges":
		return 18
	case "Access-Control-Allow-Origin":
		return 20
	case "Age":
		return 21
	case "Allow":
		return 22
	case "Cache-Control":
		return 24
	case "Content-Disposition":
		return 25
	case "Content-Encoding":
		return 26
	case "Content-Language":
		return 27
	case "Content-Location":
		return 29
	case "Content-Range":
		return 30
	case "Content-Type":
		return 31
	case "Date":
		return 33
	case "Etag", "ETag":
		return 34
	case "Expires":
		return 36
	case "Last-Modified":
		return 44
	case "Link":
		return 45
	case "Location":
		return 46
	case "Refresh":
		return 52
	case "Retry-After":
		return 53
	case "Server":
		return 54
	case "Set-Cookie":
		return 55
	case "Strict-Transport-Security":
		return 56
	case "Vary":
		return 59
	case "Via":
		return 60
	case "Www-Authenticate", "WWW-Authenticate":
		return 61
	}
	return 0
}
