package worker

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Stream is one HTTP/2 request and its response: a pooled RequestCtx
// and what the connection knows of the stream. It is the request's
// context (RequestContext), done when the client resets the stream or
// the connection goes away.
type h2Stream struct {
	fctx    fasthttp.RequestCtx
	addr    adaptConn  // the RequestCtx's connection over TLS
	plain   streamConn // and over cleartext (h2c)
	body    []byte     // the request body, read by the reader
	scratch []byte     // a body stream's chunks
	// :authority and host, as sent (kept with their room across requests)
	authority, host []byte
	h2StreamState
}

// h2StreamState is what a stream starts without.
type h2StreamState struct {
	conn *h2Conn
	id   uint32
	hs   *hostState

	// Set while its header block is decoded (the reader's).
	discard      bool // decode only, to keep HPACK's state: the stream is refused
	trailers     bool // the block is trailers: only checked
	sawRegular   bool
	fieldErr     http2.ErrCode // a malformed field: reset with it
	bad          bool          // a well-formed frame but a bad request: 400
	tooBig       bool          // the fields decode to over MaxHeaderBytes: 431
	hdrSize      int
	hdrBytes     int // encoded bytes of the block, CONTINUATIONs included
	endStream    bool
	hasMethod    bool
	hasScheme    bool
	hasPath      bool
	hasAuthority bool
	hosts        int
	declared     int64 // content-length, or -1

	// The body's flow control, the reader's.
	received   int64
	recvWindow int64
	unacked    int // stream window consumed, not yet given back
	recvTune   h2Tuner

	// Guarded by conn.wmu.
	sendWindow int64
	complete   bool      // the request is whole: the handler runs or ran
	reading    bool      // counted in conn.reading: the request is not whole
	readBy     time.Time // when ReadTimeout ends the request's reading
	running    bool      // the handler or the response's writing has not ended
	reset      bool      // reset by the client or the server: nothing more is written
	forgotten  bool      // out of the stream table
	pipe       *h2Body   // the streamed body (StreamRequestBody hosts); nil: whole

	// The context, made on first use.
	mu        sync.Mutex
	done      chan struct{}
	cancelled bool
}

var h2StreamPool = sync.Pool{New: func() any { return new(h2Stream) }}

// newStream takes a pooled stream for id.
func (c *h2Conn) newStream(id uint32) *h2Stream {
	st := h2StreamPool.Get().(*h2Stream)
	st.conn, st.id = c, id
	st.declared = -1
	st.recvWindow = h2StreamWindow
	st.recvTune = h2Tuner{size: h2StreamWindow}
	return st
}

// release returns st to the pool, once its handler has ended and it is
// out of the stream table.
func (st *h2Stream) release() {
	ctx := &st.fctx
	if ctx.Hijacked() || ctx.LastTimeoutErrorResponse() != nil {
		return // another goroutine may still hold ctx
	}
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.SetRemoteAddr(nil)
	st.body, st.scratch = st.body[:0], st.scratch[:0]
	st.authority, st.host = st.authority[:0], st.host[:0]
	if cap(st.body) > maxPooledScratch {
		st.body = nil
	}
	if cap(st.scratch) > maxPooledScratch {
		st.scratch = nil
	}
	st.addr, st.plain = adaptConn{}, streamConn{}
	st.h2StreamState = h2StreamState{}
	h2StreamPool.Put(st)
}

// errH2Canceled is a reset stream's context error.
var errH2Canceled = context.Canceled

// onHeaders starts a stream, or reads its trailers.
// h2Headers is a HEADERS frame, from the Framer or read in place
// (readHeaders).
type h2Headers struct {
	id                    uint32
	endStream, endHeaders bool
	hasPriority           bool
	dep                   uint32 // the stream it depends on, with a priority
	frag                  []byte
}

func headersOf(f *http2.HeadersFrame) h2Headers {
	return h2Headers{
		id: f.StreamID, endStream: f.StreamEnded(), endHeaders: f.HeadersEnded(),
		hasPriority: f.HasPriority(), dep: f.Priority.StreamDep, frag: f.HeaderBlockFragment(),
	}
}

func (c *h2Conn) onHeaders(f h2Headers) error {
	id := f.id
	c.wmu.Lock()
	st := c.streams[id]
	complete := st != nil && st.complete
	c.wmu.Unlock()
	switch {
	case st != nil && !complete:
		if !f.endStream {
			return http2.ConnectionError(http2.ErrCodeProtocol) // trailers end the stream
		}
		st.trailers = true
	case st != nil:
		// Half-closed (remote): the client already ended it.
		st = discardStream(c, id)
		c.resetLater(id, http2.ErrCodeStreamClosed)
	case id <= c.maxSeen.Load():
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	case id%2 == 0:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		c.maxSeen.Store(id)
		c.wmu.Lock()
		gone := c.goneAway
		c.wmu.Unlock()
		switch {
		case gone || c.peerGoAway:
			st = discardStream(c, id) // after GOAWAY: ignored
		case f.hasPriority && f.dep == id:
			st = discardStream(c, id)
			c.resetLater(id, http2.ErrCodeProtocol)
		case c.running.Load() >= h2MaxStreams:
			// Past the limit the client was given: refused, and counted
			// with the resets, so that a client that opens streams and
			// resets them faster than their handlers end floods too.
			if err := c.flood(floodReset); err != nil {
				return err
			}
			st = discardStream(c, id)
			c.resetLater(id, http2.ErrCodeRefusedStream)
		default:
			st = c.newStream(id)
		}
		st.endStream = f.endStream
	}
	c.decoding, c.continues = st, 0
	return c.decodeBlock(st, f.frag, f.endHeaders)
}

// discardStream is a stream whose header block is only decoded.
func discardStream(c *h2Conn, id uint32) *h2Stream {
	st := &h2Stream{}
	st.conn, st.id, st.discard = c, id, true
	return st
}

// resetLater sends RST_STREAM for a stream that was never in the table.
func (c *h2Conn) resetLater(id uint32, code http2.ErrCode) {
	c.wmu.Lock()
	_ = c.fr.WriteRSTStream(id, code)
	c.dirty = true
	c.wmu.Unlock()
}

func (c *h2Conn) onContinuation(f *http2.ContinuationFrame) error {
	st := c.decoding
	if f.StreamID != st.id {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.continues++
	if c.continues > h2MaxContinuations {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return c.decodeBlock(st, f.HeaderBlockFragment(), f.HeadersEnded())
}

// decodeBlock feeds a fragment of st's header block to the decoder, and
// acts on the block once it ended.
func (c *h2Conn) decodeBlock(st *h2Stream, frag []byte, ended bool) error {
	st.hdrBytes += len(frag)
	if st.hdrBytes > 2*c.srv.maxHeader+16<<10 {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	if _, err := c.dec.Write(frag); err != nil {
		return http2.ConnectionError(http2.ErrCodeCompression)
	}
	if !ended {
		return nil
	}
	c.decoding = nil
	if err := c.dec.Close(); err != nil {
		return http2.ConnectionError(http2.ErrCodeCompression)
	}
	switch {
	case st.discard:
		return nil
	case st.trailers:
		if st.fieldErr != 0 {
			c.resetStream(st.id, st.fieldErr)
			return nil
		}
		return c.endRequest(st)
	}
	if st.fieldErr == 0 && (!st.hasMethod || !st.hasScheme || !st.hasPath) {
		st.fieldErr = http2.ErrCodeProtocol // CONNECT too: not served
	}
	if st.fieldErr != 0 {
		c.resetLater(st.id, st.fieldErr)
		st.release()
		return nil
	}
	c.prepare(st)
	c.wmu.Lock()
	c.streams[st.id] = st
	st.sendWindow = c.peerWindow
	st.running = true
	if !st.endStream && c.srv.read > 0 {
		st.reading, st.readBy = true, time.Now().Add(c.srv.read)
		c.reading++
	}
	c.wmu.Unlock()
	c.running.Add(1)
	if c.drainOnFirst.Load() && c.drainOnFirst.CompareAndSwap(true, false) {
		defer c.startDrain() // this stream, and those sent with it, are served
	}
	if st.endStream {
		return c.endRequest(st)
	}
	if cl := st.declared; cl > c.srv.maxBody {
		c.refuse(st, fasthttp.StatusRequestEntityTooLarge)
		return nil
	}
	if !st.tooBig && !st.bad {
		c.streamBody(st)
	}
	return nil
}

// streamBody starts the handler of a host that streams request bodies
// now, with the body to come through an h2Body; other hosts wait for it
// whole.
func (c *h2Conn) streamBody(st *h2Stream) {
	req := &st.fctx.Request
	if c.misdirected(req.Header.Host()) {
		return // answered 421 once the body is in
	}
	hs := c.srv.binding().disp.Load().lookup(req.Header.Host())
	if !hs.streamBody {
		return
	}
	b := newH2Body(c, st.id, c.srv.maxBody, st.declared)
	c.bodies[st.id] = b
	st.pipe, st.hs = b, hs
	req.SetBodyStream(b, int(st.declared))
	c.wmu.Lock()
	st.complete = true
	c.readDoneLocked(st) // the handler reads it now, under its own deadlines
	c.wmu.Unlock()
	c.srv.pool.run(st)
}

// onField takes one decoded header field of the block under way.
func (c *h2Conn) onField(f hpack.HeaderField) {
	st := c.decoding
	if st == nil || st.discard {
		return
	}
	st.hdrSize += len(f.Name) + len(f.Value) + 32
	if st.hdrSize > c.srv.maxHeader {
		st.tooBig = true
		return
	}
	if st.fieldErr != 0 {
		return
	}
	if !validH2Field(f) {
		st.fieldErr = http2.ErrCodeProtocol
		return
	}
	if f.IsPseudo() {
		if st.trailers || st.sawRegular {
			st.fieldErr = http2.ErrCodeProtocol
			return
		}
		c.onPseudo(st, f)
		return
	}
	st.sawRegular = true
	if st.trailers {
		return // trailers are read and dropped
	}
	req := &st.fctx.Request
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		st.fieldErr = http2.ErrCodeProtocol // RFC 9113 8.2.2
	case "te":
		if f.Value != "trailers" {
			st.fieldErr = http2.ErrCodeProtocol
		}
	case "host":
		st.hosts++
		st.host = append(st.host[:0], f.Value...)
	case "content-length":
		n, err := strconv.ParseInt(f.Value, 10, 64)
		if err != nil || n < 0 || (st.declared >= 0 && n != st.declared) {
			st.fieldErr = http2.ErrCodeProtocol
			return
		}
		st.declared = n
	default:
		req.Header.Add(f.Name, f.Value)
	}
}

// onPseudo takes a request pseudo-header; each at most once.
func (c *h2Conn) onPseudo(st *h2Stream, f hpack.HeaderField) {
	h := &st.fctx.Request.Header
	switch f.Name {
	case ":method":
		if st.hasMethod || f.Value == "" {
			st.fieldErr = http2.ErrCodeProtocol
		}
		st.hasMethod = true
		h.SetMethod(f.Value)
	case ":scheme":
		if st.hasScheme || f.Value == "" {
			st.fieldErr = http2.ErrCodeProtocol
		}
		st.hasScheme = true
	case ":path":
		if st.hasPath || f.Value == "" {
			st.fieldErr = http2.ErrCodeProtocol
			return
		}
		st.hasPath = true
		// Origin-form only ("*" for OPTIONS): an absolute :path would
		// name a second target (see wellFormed).
		if f.Value[0] != '/' && f.Value != "*" {
			st.bad = true
		}
		h.SetRequestURI(f.Value)
	case ":authority":
		if st.hasAuthority {
			st.fieldErr = http2.ErrCodeProtocol
		}
		st.hasAuthority = true
		st.authority = append(st.authority[:0], f.Value...)
	default:
		st.fieldErr = http2.ErrCodeProtocol // :status, :protocol, unknown ones
	}
}

// validH2Field reports whether a field's name is a lowercase token and its
// value has no NUL, CR or LF (RFC 9113 8.2.1).
func validH2Field(f hpack.HeaderField) bool {
	name := f.Name
	if f.IsPseudo() {
		name = name[1:]
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' || !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return httpguts.ValidHeaderFieldValue(f.Value)
}

// prepare makes st's RequestCtx ready for the handler.
func (c *h2Conn) prepare(st *h2Stream) {
	ctx := &st.fctx
	if c.tlsState != nil {
		st.addr = adaptConn{streamConn: streamConn{local: c.local, remote: c.remote}, state: c.tlsState}
		ctx.Init2(&st.addr, c.srv.flog, false)
	} else {
		st.plain = streamConn{local: c.local, remote: c.remote}
		ctx.Init2(&st.plain, c.srv.flog, false)
	}
	req := &ctx.Request
	req.Header.SetProtocol("HTTP/2.0")
	host := st.host
	if st.hasAuthority {
		host = st.authority
	}
	if st.hosts > 1 || (st.hosts == 1 && st.hasAuthority && !sameAuthority(b2s(st.host), b2s(st.authority))) {
		st.bad = true // RFC 9113 8.3.1: host must not name another target
	}
	req.Header.SetHostBytes(host)
	if c.tlsState != nil {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	req.SetUserValue(requestContextKey{}, st)
}

// onData takes a DATA frame: flow control, then the stream's body.
func (c *h2Conn) onData(f *http2.DataFrame) error {
	n := int(f.Header().Length) // flow control counts the padding too
	c.wmu.Lock()
	c.recvUnacked += n
	if int64(c.recvUnacked) > c.recvTune.size {
		c.wmu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	if int64(c.recvUnacked) >= c.recvTune.size/2 {
		grow := c.recvTune.gave(int64(c.recvUnacked), time.Now(), c.rtt.get(), h2ConnWindowMax)
		_ = c.fr.WriteWindowUpdate(0, uint32(int64(c.recvUnacked)+grow))
		c.recvUnacked = 0
		c.dirty = true
	}
	if b := c.bodies[f.StreamID]; b != nil {
		data := f.Data()
		if len(data) == 0 && !f.StreamEnded() {
			if err := c.flood(floodEmptyData); err != nil {
				c.wmu.Unlock()
				return err
			}
		}
		c.wmu.Unlock()
		code := b.push(data, f.StreamEnded())
		if f.StreamEnded() || code != 0 {
			delete(c.bodies, f.StreamID)
		}
		if code != 0 {
			c.resetStream(f.StreamID, code)
		}
		return nil
	}
	st := c.streams[f.StreamID]
	complete := st != nil && st.complete
	c.wmu.Unlock()
	switch {
	case st == nil && f.StreamID > c.maxSeen.Load():
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	case st == nil:
		c.resetLater(f.StreamID, http2.ErrCodeStreamClosed)
		return nil
	case complete:
		// Half-closed (remote); its handler may be running: only its id
		// is used from here.
		c.resetStream(f.StreamID, http2.ErrCodeStreamClosed)
		return nil
	}
	st.recvWindow -= int64(n)
	if st.recvWindow < 0 {
		c.resetStream(st.id, http2.ErrCodeFlowControl)
		return nil
	}
	data := f.Data()
	if len(data) == 0 && !f.StreamEnded() {
		if err := c.flood(floodEmptyData); err != nil {
			return err
		}
	}
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared {
		c.resetStream(st.id, http2.ErrCodeProtocol)
		return nil
	}
	if st.received > c.srv.maxBody {
		c.refuse(st, fasthttp.StatusRequestEntityTooLarge)
		return nil
	}
	st.body = append(st.body, data...)
	if f.StreamEnded() {
		if st.declared >= 0 && st.received != st.declared {
			c.resetStream(st.id, http2.ErrCodeProtocol)
			return nil
		}
		return c.endRequest(st)
	}
	st.unacked += n
	if int64(st.unacked) >= st.recvTune.size/2 {
		give := int64(st.unacked)
		give += st.recvTune.gave(give, time.Now(), c.rtt.get(), h2StreamWindowMax)
		c.wmu.Lock()
		_ = c.fr.WriteWindowUpdate(st.id, uint32(give))
		c.dirty = true
		c.wmu.Unlock()
		st.recvWindow += give
		st.unacked = 0
	}
	return nil
}

// refuse answers st with status before its body has ended, and resets the
// stream so that the client stops sending it.
func (c *h2Conn) refuse(st *h2Stream, status int) {
	id := st.id // st is dropped once answered
	c.wmu.Lock()
	st.complete = true
	c.readDoneLocked(st)
	c.wmu.Unlock()
	ctx := &st.fctx
	ctx.Error(fasthttp.StatusMessage(status), status)
	ctx.SetConnectionClose()
	c.respond(st, true)
	c.wmu.Lock()
	if !c.broken {
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeNo)
		c.dirty = true
	}
	c.wmu.Unlock()
}

// endRequest runs the handler of a stream whose request is whole: on the
// reader when its host is inline, else on the pool.
func (c *h2Conn) endRequest(st *h2Stream) error {
	c.wmu.Lock()
	st.complete = true
	c.readDoneLocked(st)
	c.wmu.Unlock()
	req := &st.fctx.Request
	if len(st.body) > 0 {
		req.SetBodyRaw(st.body)
	}
	switch {
	case st.tooBig:
		st.fctx.Error(fasthttp.StatusMessage(fasthttp.StatusRequestHeaderFieldsTooLarge), fasthttp.StatusRequestHeaderFieldsTooLarge)
	case st.bad:
		st.fctx.Error(fasthttp.StatusMessage(fasthttp.StatusBadRequest), fasthttp.StatusBadRequest)
	case c.misdirected(req.Header.Host()):
		st.fctx.Error(fasthttp.StatusMessage(fasthttp.StatusMisdirectedRequest), fasthttp.StatusMisdirectedRequest)
	default:
		st.hs = c.srv.binding().disp.Load().lookup(req.Header.Host())
		if !st.hs.inline {
			c.srv.pool.run(st)
			return nil
		}
		st.hs.serve(&st.fctx)
	}
	c.respond(st, true)
	return nil
}

// misdirected reports whether host belongs to another certificate than
// the connection's SNI.
func (c *h2Conn) misdirected(host []byte) bool {
	if c.tlsState == nil {
		return false
	}
	t := c.srv.ts.certs.Load()
	return t != nil && t.misdirected(c.tlsState.ServerName, host)
}

// serveOnPool runs st's handler on a pool goroutine and queues its answer
// for the connection's writer: the pool goroutine never waits on the
// socket, which a client that does not read would hold for WriteTimeout.
func (st *h2Stream) serveOnPool() {
	st.hs.serve(&st.fctx)
	st.conn.queueResponse(st)
}

// ---- context.Context ----

// Deadline: none.
func (st *h2Stream) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is closed when the stream is reset or the connection goes away.
func (st *h2Stream) Done() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done == nil {
		st.done = make(chan struct{})
		if st.cancelled {
			close(st.done)
		}
	}
	return st.done
}

// Err is context.Canceled once Done is closed.
func (st *h2Stream) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cancelled {
		return errH2Canceled
	}
	return nil
}

// Value: none.
func (st *h2Stream) Value(any) any { return nil }

func (st *h2Stream) cancel() {
	st.mu.Lock()
	if !st.cancelled {
		st.cancelled = true
		if st.done != nil {
			close(st.done)
		}
	}
	st.mu.Unlock()
}
