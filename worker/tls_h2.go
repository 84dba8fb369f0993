package worker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Rockstar's own HTTP/2 server (RFC 9113), on the binding's dispatch with
// no net/http in the path. The wire is x/net's: http2.Framer reads and
// writes frames, hpack.Decoder decodes request headers; the connection's
// state machine is here:
//
//   - tls_h2.go: the server (connections, graceful shutdown) and one
//     connection's reader: preface, SETTINGS, PING, GOAWAY, RST_STREAM,
//     WINDOW_UPDATE, PRIORITY, and the denial-of-service limits;
//   - tls_h2_stream.go: a stream: HEADERS and CONTINUATION into a pooled
//     fasthttp.RequestCtx (pseudo-headers, the :authority rules, fields
//     HTTP/2 forbids), DATA into its body, then the handler;
//   - tls_h2_write.go: the response: HEADERS (encoded here, never indexed,
//     so that nothing allocates) and DATA under flow control, batched;
//   - tls_h2_pool.go: the bounded goroutines that run handlers that may
//     block. Inline hosts' handlers run on the reader itself.
//
// One goroutine reads a connection's frames and runs what never blocks;
// the writes of a batch of frames read together go out in one flush.

// HTTP/2 settings and limits of Rockstar's server.
const (
	// h2MaxStreams is SETTINGS_MAX_CONCURRENT_STREAMS: streams whose
	// handler still runs count, reset or not.
	h2MaxStreams = 250
	// h2StreamWindow is the SETTINGS_INITIAL_WINDOW_SIZE announced: how
	// much of a request body a client may send ahead.
	h2StreamWindow = 1 << 20
	// h2ConnWindow is the connection's receive window.
	h2ConnWindow = 16 << 20
	// h2MaxFrame is the largest frame read: the protocol's default
	// SETTINGS_MAX_FRAME_SIZE, which is not raised.
	h2MaxFrame = 16384
	// h2MaxContinuations bounds the CONTINUATION frames of one header
	// block (CVE-2024-27316 sends endless empty ones).
	h2MaxContinuations = 32
	// h2FloodPerSecond bounds, per connection and second, each of: client
	// resets of streams (CVE-2023-44487, rapid reset), SETTINGS, PINGs,
	// empty DATA frames, and PRIORITY frames. Past it the connection gets
	// GOAWAY ENHANCE_YOUR_CALM.
	h2FloodPerSecond = 1000
	// h2HeaderTable is the HPACK dynamic table the decoder keeps.
	h2HeaderTable = 4096
)

// h2Server is a TLS binding's HTTP/2 side: it serves the connections the
// handshakes give it, and stops them gracefully.
type h2Server struct {
	ts        *tlsServe // nil for cleartext HTTP/2 (h2c)
	b         *binding  // h2c's binding; over TLS, ts.b
	maxBody   int64
	maxHeader int
	read      time.Duration // the preface's and SETTINGS' deadline, and each request's, body included
	idle      time.Duration // a connection with no stream closes after it
	write     time.Duration // a write (or a wait for window) fails after it
	log       zerolog.Logger
	flog      fasthttp.Logger
	pool      h2Pool

	mu      sync.Mutex
	empty   sync.Cond // on mu: conns became empty
	conns   map[*h2Conn]struct{}
	closing bool           // draining: new connections are served, then drained
	lazy    bool           // the drain has a deadline: connections go when quiet (drainConns)
	closed  bool           // drained: new connections are refused
	wg      sync.WaitGroup // connections' readers
}

func newH2Server(ts *tlsServe, cfg ServerConfig, lg zerolog.Logger) *h2Server {
	s := &h2Server{
		ts: ts, maxBody: cfg.MaxRequestSize, maxHeader: cfg.MaxHeaderBytes,
		read: cfg.ReadTimeout, idle: cfg.IdleTimeout, write: cfg.WriteTimeout,
		log: lg, flog: fasthttpLogger{lg}, conns: make(map[*h2Conn]struct{}),
	}
	s.empty.L = &s.mu
	if s.maxHeader <= 0 {
		s.maxHeader = DefaultMaxHeaderBytes
	}
	if s.write <= 0 {
		s.write = 30 * time.Second
	}
	s.pool.init(h2PoolMax())
	return s
}

// binding is the binding whose dispatch serves the streams.
func (s *h2Server) binding() *binding {
	if s.ts != nil {
		return s.ts.b
	}
	return s.b
}

// serve takes c, a TLS connection that negotiated h2, and serves it on a
// goroutine of its own until it ends.
func (s *h2Server) serve(c *tls.Conn) {
	st := c.ConnectionState()
	hc := s.newConn(c, &st, 0)
	if hc == nil {
		return
	}
	if b := s.binding(); b != nil {
		b.track(c)
	}
	go s.run(hc)
}

// serveCleartext serves c, whose first prefaceRead bytes of the client
// preface were read already, as h2c (prior knowledge), until it ends. It
// runs on the caller's goroutine: fasthttp's hijack handler, whose
// connection is tracked by the binding already.
func (s *h2Server) serveCleartext(c net.Conn, prefaceRead int) {
	hc := s.newConn(c, nil, prefaceRead)
	if hc == nil {
		return
	}
	s.run(hc)
}

// newConn registers a connection; nil (and c closed) when stopping.
func (s *h2Server) newConn(c net.Conn, state *tls.ConnectionState, prefaceRead int) *h2Conn {
	hc := &h2Conn{srv: s, c: c, tlsState: state, local: c.LocalAddr(), remote: c.RemoteAddr(), prefaceRead: prefaceRead}
	hc.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		_ = c.Close()
		return nil
	case s.closing && !s.lazy:
		// Its handshake ended while the server drains at once: the
		// requests it sends first are served, then it is told to go.
		// (A lazy drain tells it when it is quiet: drainConns.)
		hc.drainAsked = true
	}
	s.conns[hc] = struct{}{}
	s.wg.Add(1)
	return hc
}

// run serves hc until it ends, then forgets it.
func (s *h2Server) run(hc *h2Conn) {
	defer s.wg.Done()
	hc.serve()
	if hc.tlsState != nil {
		if b := s.binding(); b != nil {
			b.untrack(hc.c)
		}
	}
	s.mu.Lock()
	delete(s.conns, hc)
	if len(s.conns) == 0 {
		s.empty.Broadcast()
	}
	s.mu.Unlock()
}

// shutdown tells every connection to go away (GOAWAY: at once, or when
// it is quiet if ctx has a deadline; see drainConns), lets their streams
// finish until ctx ends, then closes what is left; it returns ctx's error
// if it had to close streams.
func (s *h2Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	_, s.lazy = ctx.Deadline()
	s.mu.Unlock()
	done := make(chan struct{})
	var drainer sync.WaitGroup
	drainer.Go(func() { s.drainConns(ctx, done) })
	defer drainer.Wait()
	go func() {
		// Connections that join while it drains are waited for too;
		// once none is left, no more may join.
		s.mu.Lock()
		for len(s.conns) > 0 {
			s.empty.Wait()
		}
		s.closed = true
		s.mu.Unlock()
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = context.Cause(ctx)
		s.close()
		<-done
	}
	s.pool.stop(ctx)
	return err
}

// close closes every connection at once.
func (s *h2Server) close() {
	s.mu.Lock()
	s.closing, s.closed = true, true
	for c := range s.conns {
		_ = c.c.Close()
	}
	s.mu.Unlock()
}

// h2Conn is one HTTP/2 connection. Its reader goroutine (serve) owns the
// stream table and the decoder; writes go through wmu.
type h2Conn struct {
	srv           *h2Server
	c             net.Conn
	tlsState      *tls.ConnectionState // nil over cleartext (h2c)
	local, remote net.Addr
	prefaceRead   int // bytes of the client preface read before (h2c: by fasthttp)

	br  *bufio.Reader
	fr  *http2.Framer
	dec *hpack.Decoder

	// The reader's own state.
	streams     map[uint32]*h2Stream
	bodies      map[uint32]*h2Body // streamed bodies still being sent (the reader's)
	decoding    *h2Stream          // the stream whose header block is being decoded
	continues   int                // CONTINUATION frames of the block under way
	peerGoAway  bool
	rtt         h2RTT
	idleSet     bool // a read deadline is set: the idle timeout or a request's (guarded by wmu: becameIdle sets it too)
	floodStart  time.Time
	floodCounts [5]int

	// maxSeen is the highest stream id the client opened (written by the
	// reader, read by GOAWAY from any goroutine).
	maxSeen atomic.Uint32
	// running counts streams whose handler has not finished (reset ones
	// too): the concurrency limit, and idleness.
	running atomic.Int32

	// The pool's answers waiting for the writer (queueResponse).
	qmu     sync.Mutex
	qcond   sync.Cond // on qmu: queued, or closed
	queue   []*h2Stream
	writing bool          // writeQueued was started
	qclosed bool          // the connection ended: the writer ends
	qdone   chan struct{} // closed when the writer ended

	// Guarded by wmu: the writer side.
	wmu          sync.Mutex
	wcond        sync.Cond
	bw           *bufio.Writer
	hbuf         []byte // an encoded header block
	sendWindow   int64  // the connection's, granted by the client
	peerWindow   int64  // SETTINGS_INITIAL_WINDOW_SIZE of the client
	peerMaxFrame int
	dirty        bool // written, not yet flushed
	started      bool // our SETTINGS are written: other frames may follow
	draining     bool // the first, announcing GOAWAY is sent (startDrain)
	drainAsked   bool // a drain began before our SETTINGS were written
	// drainOnFirst: the drain starts once the first stream is taken.
	drainOnFirst atomic.Bool
	goneAway     bool // GOAWAY sent: no new streams
	lastStream   uint32
	reading      int     // streams whose request is not whole yet (h2Stream.reading)
	broken       bool    // a write failed, or the connection is closing
	recvUnacked  int     // connection window consumed, not yet given back
	recvTune     h2Tuner // the connection's receive window
}

// The flood counters of h2Conn.floodCounts.
const (
	floodReset = iota
	floodSettings
	floodPing
	floodEmptyData
	floodPriority
)

// init readies the connection before anyone else can see it.
func (c *h2Conn) init() {
	c.wcond.L = &c.wmu
	c.qcond.L = &c.qmu
	c.br = bufio.NewReaderSize(c.c, 32<<10) // a whole frame fits: readHeaders
	c.bw = bufio.NewWriterSize(h2DeadlineWriter{c}, 16<<10)
	c.fr = http2.NewFramer(c.bw, c.br)
	c.fr.SetMaxReadFrameSize(h2MaxFrame)
	c.fr.SetReuseFrames()
	c.sendWindow = 65535
	c.recvTune.size = h2ConnWindow
	c.peerWindow = 65535
	c.peerMaxFrame = 16384
	c.streams = make(map[uint32]*h2Stream)
	c.bodies = make(map[uint32]*h2Body)
	c.dec = hpack.NewDecoder(h2HeaderTable, c.onField)
	c.dec.SetMaxStringLength(c.srv.maxHeader)
}

// serve reads and handles frames until the connection ends.
func (c *h2Conn) serve() {
	defer c.closeAll()
	defer func() {
		// A bug here must cost this connection, not the worker that
		// serves every tenant.
		if p := recover(); p != nil {
			c.srv.log.Error().Str("panic", fmt.Sprint(p)).Str("remote", c.remote.String()).Msg("HTTP/2 connection panicked")
		}
	}()
	if c.srv.read > 0 {
		_ = c.c.SetReadDeadline(time.Now().Add(c.srv.read))
	}
	var preface [len(http2.ClientPreface)]byte
	rest := preface[c.prefaceRead:]
	if _, err := io.ReadFull(c.br, rest); err != nil || string(rest) != http2.ClientPreface[c.prefaceRead:] {
		return
	}
	c.wmu.Lock()
	_ = c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(c.srv.maxHeader)},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
	)
	_ = c.fr.WriteWindowUpdate(0, h2ConnWindow-65535)
	c.rtt.settingsSent(time.Now())
	c.dirty = true
	c.started = true
	drain := c.drainAsked
	c.wmu.Unlock()
	if drain {
		// The connection came as the server began to stop: its client has
		// requests to send, and one told to go away before it sent them
		// fails them. The drain starts with its first stream (or after
		// drainRTT), so that those are served.
		c.drainOnFirst.Store(true)
		time.AfterFunc(drainRTT, c.startDrain)
	}
	// The first frame must be the client's SETTINGS (RFC 9113 3.4).
	first := true
	for {
		if c.br.Buffered() == 0 {
			if !c.flush() {
				return
			}
			c.setIdleDeadline()
			// Wait for the next frame's first byte: a deadline that comes
			// first leaves no frame half read.
			if _, err := c.br.Peek(1); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) && c.expireReads() {
					continue
				}
				c.readFailed(err)
				return
			}
		}
		if !first && c.decoding == nil {
			if ok, err := c.readHeaders(); ok {
				if err != nil {
					c.endWith(err)
					return
				}
				continue
			}
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.readFailed(err)
			return
		}
		if first {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				c.goAway(http2.ErrCodeProtocol, true)
				return
			}
			first = false
			c.wmu.Lock()
			if c.srv.read > 0 && !c.idleSet {
				_ = c.c.SetReadDeadline(time.Time{})
			}
			c.wmu.Unlock()
		}
		if err := c.handle(f); err != nil {
			c.endWith(err)
			return
		}
	}
}

// endWith ends the connection after a frame's handling failed: GOAWAY
// with a connection error's code.
func (c *h2Conn) endWith(err error) {
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		c.goAway(http2.ErrCode(ce), true)
	}
}

// readHeaders reads a HEADERS frame that carries its whole header block
// in place, from the read buffer, where the Framer would allocate one; ok
// is false, and nothing read, for any other frame (the Framer reads it).
func (c *h2Conn) readHeaders() (ok bool, err error) {
	hdr, perr := c.br.Peek(9)
	if perr != nil || http2.FrameType(hdr[3]) != http2.FrameHeaders {
		return false, nil
	}
	flags := http2.Flags(hdr[4])
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if !flags.Has(http2.FlagHeadersEndHeaders) || n > h2MaxFrame {
		return false, nil // CONTINUATIONs follow, or FRAME_SIZE_ERROR: the Framer's
	}
	frame, perr := c.br.Peek(9 + n)
	if perr != nil {
		return false, nil
	}
	h := h2Headers{
		id:          binary.BigEndian.Uint32(hdr[5:]) & (1<<31 - 1),
		endStream:   flags.Has(http2.FlagHeadersEndStream),
		endHeaders:  true,
		hasPriority: flags.Has(http2.FlagHeadersPriority),
	}
	p := frame[9:]
	pad := 0
	if flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 {
			return true, http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		pad, p = int(p[0]), p[1:]
	}
	if h.hasPriority {
		if len(p) < 5 {
			return true, http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		h.dep, p = binary.BigEndian.Uint32(p)&(1<<31-1), p[5:]
	}
	if pad > len(p) || h.id == 0 {
		return true, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	h.frag = p[:len(p)-pad]
	err = c.onHeaders(h) // decodes the block before the buffer moves
	_, _ = c.br.Discard(9 + n)
	return true, err
}

// readFailed answers what ReadFrame refused; the connection ends. A
// stream error ends it too (RFC 9113 5.4.2 allows it): the Framer also
// gives one for padding longer than its HEADERS or DATA frame, which 6.1
// and 6.2 make a connection error, and after which the HPACK state or the
// flow control would be lost.
func (c *h2Conn) readFailed(err error) {
	var ce http2.ConnectionError
	var se http2.StreamError
	switch {
	case errors.As(err, &se):
		c.goAway(se.Code, true)
	case errors.As(err, &ce):
		c.goAway(http2.ErrCode(ce), true)
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.goAway(http2.ErrCodeFrameSize, true)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The idle timeout, or a client stalled inside a frame: GOAWAY
		// first (RFC 9113 9.1) tells the client that a request it sent
		// meanwhile was not taken.
		c.goAway(http2.ErrCodeNo, true)
	}
}

// setIdleDeadline gives a connection with no stream IdleTimeout before it
// closes, one whose requests are still read the earliest of their
// ReadTimeouts, and one whose streams are all whole none. Under wmu, as
// becameIdle, which arms the timeout when the last stream ends off the
// reader: a stream that begins meanwhile finds it armed, and disarms it.
func (c *h2Conn) setIdleDeadline() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	idle := c.running.Load() == 0
	switch {
	case idle && c.srv.idle > 0:
		_ = c.c.SetReadDeadline(time.Now().Add(c.srv.idle))
		c.idleSet = true
	case !idle && c.reading > 0:
		var by time.Time
		for _, st := range c.streams {
			if st.reading && (by.IsZero() || st.readBy.Before(by)) {
				by = st.readBy
			}
		}
		_ = c.c.SetReadDeadline(by)
		c.idleSet = true
	case !idle && c.idleSet:
		_ = c.c.SetReadDeadline(time.Time{})
		c.idleSet = false
	}
}

// handle acts on one frame. A connection error it returns ends the
// connection with GOAWAY; a stream error has been answered already.
func (c *h2Conn) handle(f http2.Frame) error {
	if c.decoding != nil {
		if cf, ok := f.(*http2.ContinuationFrame); ok {
			return c.onContinuation(cf)
		}
		// The Framer refuses anything else between HEADERS and its last
		// CONTINUATION; a connection error all the same.
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return c.onHeaders(headersOf(f))
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			if f.Data == drainPing {
				c.finishDrain()
			}
			return nil
		}
		if err := c.flood(floodPing); err != nil {
			return err
		}
		c.wmu.Lock()
		_ = c.fr.WritePing(true, f.Data)
		c.dirty = true
		c.wmu.Unlock()
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.PriorityFrame:
		// Counted first: a self-dependent one costs a RST_STREAM too.
		if err := c.flood(floodPriority); err != nil {
			return err
		}
		if f.StreamDep == f.StreamID {
			c.resetStream(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.GoAwayFrame:
		c.peerGoAway = true
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	case *http2.ContinuationFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil // unknown frame types are ignored
}

// flood counts one frame of kind; past h2FloodPerSecond in a second the
// connection is abusive.
func (c *h2Conn) flood(kind int) error {
	now := time.Now()
	if now.Sub(c.floodStart) > time.Second {
		c.floodStart = now
		c.floodCounts = [5]int{}
	}
	c.floodCounts[kind]++
	if c.floodCounts[kind] > h2FloodPerSecond {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return nil
}

func (c *h2Conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		c.rtt.settingsAcked(time.Now())
		return nil
	}
	if err := c.flood(floodSettings); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	window := int64(-1) // the frame's last INITIAL_WINDOW_SIZE, applied once
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			window = int64(s.Val)
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if window >= 0 {
		// Once per frame, not per value: a frame holds thousands.
		delta := window - c.peerWindow
		c.peerWindow = window
		for _, st := range c.streams {
			st.sendWindow += delta
			if st.sendWindow > 1<<31-1 {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
		}
		c.wcond.Broadcast()
	}
	_ = c.fr.WriteSettingsAck()
	c.dirty = true
	return nil
}

func (c *h2Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.wcond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxSeen.Load() {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		return nil // a stream that has just closed
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > 1<<31-1 {
		c.wmu.Unlock()
		c.resetStream(f.StreamID, http2.ErrCodeFlowControl)
		c.wmu.Lock()
		return nil
	}
	c.wcond.Broadcast()
	return nil
}

func (c *h2Conn) onReset(f *http2.RSTStreamFrame) error {
	if b := c.bodies[f.StreamID]; b != nil {
		b.fail(errH2Canceled)
		delete(c.bodies, f.StreamID)
	}
	c.wmu.Lock()
	st := c.streams[f.StreamID]
	if st == nil {
		c.wmu.Unlock()
		if f.StreamID > c.maxSeen.Load() {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		return nil
	}
	handled := st.complete
	release := c.forgetLocked(st, true)
	c.wmu.Unlock()
	if release {
		c.drop(st)
	}
	if handled {
		// A client that opens and resets streams at once makes the server
		// work for nothing (CVE-2023-44487): count it. The stream's
		// handler still counts against the concurrency limit until it
		// ends.
		return c.flood(floodReset)
	}
	return nil
}

// resetStream sends RST_STREAM and forgets the stream.
func (c *h2Conn) resetStream(id uint32, code http2.ErrCode) {
	c.wmu.Lock()
	if !c.broken {
		_ = c.fr.WriteRSTStream(id, code)
		c.dirty = true
	}
	var release bool
	st := c.streams[id]
	if st != nil {
		release = c.forgetLocked(st, true)
	}
	c.wmu.Unlock()
	if release {
		c.drop(st)
	}
}

// expireReads answers 408 to the streams whose request was not whole
// within ReadTimeout, when the read deadline came between frames; false
// if no stream runs: the idle timeout.
func (c *h2Conn) expireReads() bool {
	if c.running.Load() == 0 {
		return false
	}
	now := time.Now()
	var late []*h2Stream
	c.wmu.Lock()
	for _, st := range c.streams {
		if st.reading && !now.Before(st.readBy) {
			late = append(late, st)
		}
	}
	c.wmu.Unlock()
	for _, st := range late {
		c.refuse(st, fasthttp.StatusRequestTimeout)
	}
	return true
}

// readDoneLocked: st's request is whole, or will never be.
func (c *h2Conn) readDoneLocked(st *h2Stream) {
	if st.reading {
		st.reading = false
		c.reading--
	}
}

// forgetLocked takes st out of the stream table; reset says the client or
// the server reset it, so that its handler's answer goes nowhere. It
// reports whether the caller is to drop st: a stream whose request never
// became whole has no handler to finish it.
func (c *h2Conn) forgetLocked(st *h2Stream, reset bool) bool {
	delete(c.streams, st.id)
	st.forgotten = true
	c.readDoneLocked(st)
	if reset {
		st.reset = true
		st.cancel()
		c.wcond.Broadcast()
	}
	if st.complete {
		return false // finish drops it
	}
	st.running = false
	return true
}

// drop ends a stream that never reached its handler.
func (c *h2Conn) drop(st *h2Stream) {
	if c.running.Add(-1) == 0 {
		c.becameIdle()
	}
	st.release()
}

// flush writes what the batch produced; false if the connection broke.
func (c *h2Conn) flush() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
	return !c.broken
}

func (c *h2Conn) flushLocked() {
	if !c.dirty || c.broken && c.bw.Buffered() == 0 {
		return
	}
	if err := c.bw.Flush(); err != nil {
		c.broken = true
		c.wcond.Broadcast()
		_ = c.c.Close()
	}
	c.dirty = false
}

// h2DeadlineWriter is the socket under the connection's write buffer:
// every write gets WriteTimeout from its start, whether a flush or a
// buffer that filled up in the middle of a frame (a deadline set only at
// flushes has passed by then on a connection quiet for longer).
type h2DeadlineWriter struct{ c *h2Conn }

func (w h2DeadlineWriter) Write(p []byte) (int, error) {
	_ = w.c.c.SetWriteDeadline(time.Now().Add(w.c.srv.write))
	return w.c.c.Write(p)
}
