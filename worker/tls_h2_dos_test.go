package worker

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// The denial-of-service limits of the HTTP/2 server (tls_h2.go), each
// tripped by raw frames over TLS to a real server on 127.0.0.1, and each
// followed by a check that the server goes on serving other connections.
//
// Where a limit's absence would leave the server quietly accepting
// everything, the abuse is followed by a PING whose ACK says so: the
// server answers frames in order, so an ACK before the expected GOAWAY or
// RST_STREAM means the limit did not trip, and no test waits for a
// timeout to learn it.

// Rapid reset (CVE-2023-44487): a client that opens streams and resets
// them at once gets GOAWAY ENHANCE_YOUR_CALM, long before the streams it
// would open, and only a bounded number of handlers ever runs.
func TestH2RapidResetGoAway(t *testing.T) {
	var ran atomic.Int64
	r := NewRouter()
	r.GET("/slow", func(ctx *fasthttp.RequestCtx) {
		ran.Add(1)
		time.Sleep(10 * time.Millisecond)
		ctx.SetBodyString("slow")
	})
	addr, pool := startH2(t, ServerConfig{}, r)
	c := dialH2Raw(t, addr, pool)
	const streams = 20000
	var opened atomic.Int64
	wait := c.write(func() error {
		for i := range streams {
			id := uint32(2*i + 1)
			if err := c.request(id, "GET", "/slow", true); err != nil {
				return err
			}
			if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				return err
			}
			opened.Add(1)
			if i%64 == 63 {
				if err := c.flush(); err != nil {
					return err
				}
			}
		}
		return c.sentinel()
	})
	last := c.awaitGoAway(http2.ErrCodeEnhanceYourCalm, 20*time.Second)
	_ = c.conn.Close()
	wait()
	// A second of resets past the limit, at worst spread over two of the
	// counter's windows, plus the handlers that ran unreset: the
	// concurrency limit.
	bound := int64(2*h2FloodPerSecond + h2MaxStreams)
	t.Logf("GOAWAY after stream %d; %d streams opened and reset, %d handlers ran", last, opened.Load(), ran.Load())
	if n := ran.Load(); n > bound {
		t.Errorf("%d handlers ran, want at most %d", n, bound)
	}
	if last >= 2*streams {
		t.Errorf("GOAWAY came after stream %d, the last", last)
	}
	assertServes(t, addr, pool)
}

// SETTINGS_MAX_CONCURRENT_STREAMS is announced and enforced: with 250
// handlers running, the 251st stream is refused; once they end, all 250
// are answered, and new streams are served again.
func TestH2ConcurrentStreamLimit(t *testing.T) {
	b := newH2Blocking()
	addr, pool := startH2(t, ServerConfig{}, b.r)
	t.Cleanup(b.open)
	c := dialH2Raw(t, addr, pool)
	c.until("the server's SETTINGS", 5*time.Second, func(f http2.Frame) bool {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			return false
		}
		if v, ok := sf.Value(http2.SettingMaxConcurrentStreams); !ok || v != h2MaxStreams {
			t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d (sent %v), want %d", v, ok, h2MaxStreams)
		}
		return true
	})
	var ids []uint32
	for i := range h2MaxStreams + 1 {
		id := uint32(2*i + 1)
		if err := c.request(id, "GET", "/block", true); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := c.sentinel(); err != nil {
		t.Fatal(err)
	}
	c.awaitRefused(ids[h2MaxStreams], 10*time.Second)
	b.open()
	c.readAnswers(ids[:h2MaxStreams], "done", 10*time.Second)
	c.retryUntilServed(ids[h2MaxStreams]+2, 5*time.Second)
	assertServes(t, addr, pool)
}

// A stream the client resets still counts against the limit while its
// handler runs, so that resetting is no way around it.
func TestH2ResetStreamsStillCount(t *testing.T) {
	b := newH2Blocking()
	addr, pool := startH2(t, ServerConfig{}, b.r)
	t.Cleanup(b.open)
	c := dialH2Raw(t, addr, pool)
	for i := range h2MaxStreams {
		id := uint32(2*i + 1)
		if err := c.request(id, "GET", "/block", true); err != nil {
			t.Fatal(err)
		}
		if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
	}
	next := uint32(2*h2MaxStreams + 1)
	if err := c.request(next, "GET", "/ok", true); err != nil {
		t.Fatal(err)
	}
	if err := c.sentinel(); err != nil {
		t.Fatal(err)
	}
	c.awaitRefused(next, 10*time.Second)
	b.open()
	c.retryUntilServed(next+2, 5*time.Second)
	assertServes(t, addr, pool)
}

// CONTINUATION flood (CVE-2024-27316): a header block of endless
// CONTINUATION frames, empty or full, ends the connection with GOAWAY
// ENHANCE_YOUR_CALM, whether it is too many frames or too many bytes.
func TestH2ContinuationFlood(t *testing.T) {
	addr, pool := startH2(t, ServerConfig{}, NewRouter())
	t.Run("frames", func(t *testing.T) {
		c := dialH2Raw(t, addr, pool)
		wait := c.write(func() error {
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block("GET", "/ok"), EndStream: true}); err != nil {
				return err
			}
			for range 4 * h2MaxContinuations {
				if err := c.fr.WriteContinuation(1, false, nil); err != nil {
					return err
				}
			}
			if err := c.fr.WriteContinuation(1, true, nil); err != nil {
				return err
			}
			return c.sentinel()
		})
		c.awaitGoAway(http2.ErrCodeEnhanceYourCalm, 10*time.Second)
		wait()
	})
	t.Run("bytes", func(t *testing.T) {
		c := dialH2Raw(t, addr, pool)
		// 16 frames of 15 KB of well-formed fields: under the frame
		// count's limit, far over the block's size limit.
		var extra [][2]string
		for i := range 240 {
			extra = append(extra, [2]string{"x-f" + strconv.Itoa(i), strings.Repeat(strconv.Itoa(i%10), 1000)})
		}
		block := c.block("GET", "/ok", extra...)
		const chunk = 15000
		if n := len(block) / chunk; n >= h2MaxContinuations || len(block) < 4*(2*DefaultMaxHeaderBytes+16<<10) {
			t.Fatalf("a block of %d bytes in %d frames does not test the size limit alone", len(block), n)
		}
		wait := c.write(func() error {
			first := true
			for len(block) > 0 {
				n := min(chunk, len(block))
				var err error
				if first {
					err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:n], EndStream: true, EndHeaders: n == len(block)})
					first = false
				} else {
					err = c.fr.WriteContinuation(1, n == len(block), block[:n])
				}
				if err != nil {
					return err
				}
				block = block[n:]
			}
			return c.sentinel()
		})
		c.awaitGoAway(http2.ErrCodeEnhanceYourCalm, 10*time.Second)
		wait()
	})
	assertServes(t, addr, pool)
}

// Floods of frames that cost the server work and the client nothing:
// SETTINGS, PING, PRIORITY (self-dependent ones too, which the server
// answers with RST_STREAM) and empty DATA frames. Past h2FloodPerSecond in
// a second, GOAWAY ENHANCE_YOUR_CALM.
func TestH2FloodsGoAway(t *testing.T) {
	r := NewRouter()
	r.POST("/upload", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("up") })
	addr, pool := startH2(t, ServerConfig{}, r)
	const n = 3 * h2FloodPerSecond // enough even if the counter's second turns over
	for _, tc := range []struct {
		name  string
		frame func(c *h2Raw, i int) error
	}{
		{"SETTINGS", func(c *h2Raw, _ int) error { return c.fr.WriteSettings() }},
		{"SETTINGS with values", func(c *h2Raw, _ int) error {
			return c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
		}},
		{"PING", func(c *h2Raw, i int) error { return c.fr.WritePing(false, [8]byte{byte(i), byte(i >> 8)}) }},
		{"PRIORITY", func(c *h2Raw, i int) error {
			return c.fr.WritePriority(uint32(2*i+1), http2.PriorityParam{StreamDep: 0, Weight: 15})
		}},
		{"PRIORITY on itself", func(c *h2Raw, i int) error {
			return c.fr.WritePriority(3, http2.PriorityParam{StreamDep: 3, Weight: 15})
		}},
		{"empty DATA", func(c *h2Raw, i int) error {
			if i == 0 {
				if err := c.request(1, "POST", "/upload", false); err != nil {
					return err
				}
			}
			return c.fr.WriteData(1, false, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialH2Raw(t, addr, pool)
			wait := c.write(func() error {
				for i := range n {
					if err := tc.frame(c, i); err != nil {
						return err
					}
				}
				return c.sentinel()
			})
			c.awaitGoAway(http2.ErrCodeEnhanceYourCalm, 10*time.Second)
			wait()
		})
	}
	assertServes(t, addr, pool)
}

// HPACK bomb: one large field in the dynamic table, then thousands of
// one-byte references to it, decode to megabytes from a block of a few
// kilobytes. The decoded size is capped: 431, and the connection (its
// HPACK state intact) serves the next request.
func TestH2HpackBomb(t *testing.T) {
	addr, pool := startH2(t, ServerConfig{}, NewRouter())
	c := dialH2Raw(t, addr, pool)
	// The field, indexed: the most recent entry of the dynamic table,
	// index 62.
	block := c.block("GET", "/ok", [2]string{"x-bomb", strings.Repeat("b", 4000)})
	refs := bytes.Repeat([]byte{0x80 | 62}, 12000) // 12 000 x 4 KB: 48 MB decoded
	block = append(block, refs...)
	if len(block) > h2MaxFrame {
		t.Fatalf("a block of %d bytes", len(block))
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.request(3, "GET", "/ok", true); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	done := map[uint32]bool{}
	c.until("both answers", 10*time.Second, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
		if f.Header().Flags.Has(http2.FlagDataEndStream) && (f.Header().Type == http2.FrameHeaders || f.Header().Type == http2.FrameData) {
			done[f.Header().StreamID] = true
		}
		return done[1] && done[3]
	})
	if c.status[1] != fasthttp.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("the bomb: %d, want 431", c.status[1])
	}
	if c.status[3] != 200 || string(c.body[3]) != "ok" {
		t.Errorf("the request after the bomb: %d %q", c.status[3], c.body[3])
	}
	assertServes(t, addr, pool)
}

// Zero-window stall: a client that never opens its window holds a
// response no longer than WriteTimeout; then the stream is reset
// FLOW_CONTROL_ERROR, and the connection and the server go on. Both
// windows: the stream's (INITIAL_WINDOW_SIZE 0) and the connection's (a
// body larger than its 65 535 bytes, never given back).
func TestH2ZeroWindowStall(t *testing.T) {
	const write = 300 * time.Millisecond
	r := NewRouter()
	big := bytes.Repeat([]byte("z"), 128<<10)
	r.GET("/big", func(ctx *fasthttp.RequestCtx) { ctx.SetBody(big) })
	addr, pool := startH2(t, ServerConfig{WriteTimeout: write}, r)
	for _, tc := range []struct {
		name     string
		settings []http2.Setting
		got      int // body bytes the windows let through
	}{
		{"stream window", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}, 0},
		{"connection window", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}, 65535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialH2Raw(t, addr, pool, tc.settings...)
			if err := c.request(1, "GET", "/big", true); err != nil {
				t.Fatal(err)
			}
			if err := c.flush(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c.until("RST_STREAM", 5*time.Second, func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					if f.StreamID != 1 || f.ErrCode != http2.ErrCodeFlowControl {
						t.Fatalf("stream %d reset %v, want 1 FLOW_CONTROL_ERROR", f.StreamID, f.ErrCode)
					}
					return true
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v", f.ErrCode)
				case *http2.DataFrame:
					if f.StreamEnded() {
						t.Fatal("the body was written past the window")
					}
				}
				return false
			})
			took := time.Since(start)
			if took < write/2 {
				t.Errorf("reset after %s, before WriteTimeout %s", took, write)
			}
			if c.status[1] != 200 || len(c.body[1]) != tc.got {
				t.Errorf("before the reset: %d with %d body bytes, want 200 with %d", c.status[1], len(c.body[1]), tc.got)
			}
			// The connection itself goes on.
			if err := c.sentinel(); err != nil {
				t.Fatal(err)
			}
			c.until("the PING's ACK", 5*time.Second, isSentinelAck)
		})
	}
	assertServes(t, addr, pool)
}

// IdleTimeout closes a connection with no stream, after its last answer
// or with none at all, with GOAWAY NO_ERROR first, which tells the client
// that a request it sent meanwhile was not taken; a stream under way keeps it open, even when the
// timeout was armed as the previous stream ended.
func TestH2IdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	b := newH2Blocking()
	b.r.GET("/pause", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(50 * time.Millisecond)
		ctx.SetBodyString("paused")
	})
	addr, pool := startH2(t, ServerConfig{IdleTimeout: idle}, b.r)
	t.Cleanup(b.open)
	closedAfter := func(t *testing.T, c *h2Raw, since time.Time) {
		t.Helper()
		if code := c.awaitClosed(10 * idle); code == nil || *code != http2.ErrCodeNo {
			t.Errorf("closed with GOAWAY %v, want NO_ERROR first (RFC 9113 9.1)", code)
		}
		if took := time.Since(since); took < idle*2/3 {
			t.Errorf("closed after %s, before IdleTimeout %s", took, idle)
		}
	}
	t.Run("no request", func(t *testing.T) {
		c := dialH2Raw(t, addr, pool)
		closedAfter(t, c, time.Now())
	})
	t.Run("after an answer", func(t *testing.T) {
		c := dialH2Raw(t, addr, pool)
		if err := c.request(1, "GET", "/ok", true); err != nil {
			t.Fatal(err)
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		c.readAnswers([]uint32{1}, "ok", 5*time.Second)
		closedAfter(t, c, time.Now())
	})
	t.Run("a stream under way", func(t *testing.T) {
		c := dialH2Raw(t, addr, pool)
		// First an answer that ends while the reader waits for frames,
		// so that the idle timeout is armed off the reader; then a stream
		// that must disarm it.
		if err := c.request(1, "GET", "/pause", true); err != nil {
			t.Fatal(err)
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		c.readAnswers([]uint32{1}, "paused", 5*time.Second)
		if err := c.request(3, "GET", "/block", true); err != nil {
			t.Fatal(err)
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		// Three idle timeouts with the handler running: still open.
		open := time.Now().Add(3 * idle)
		for {
			f, err := c.read(open)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				t.Fatalf("closed with a stream under way: %v", err)
			}
			if _, ok := f.(*http2.GoAwayFrame); ok {
				t.Fatal("GOAWAY with a stream under way")
			}
		}
		b.open()
		c.readAnswers([]uint32{3}, "done", 5*time.Second)
		closedAfter(t, c, time.Now())
	})
	assertServes(t, addr, pool)
}

// Slow request bodies (slowloris over HTTP/2): ReadTimeout bounds the
// reading of a whole request, body included, whether the client falls
// silent after the headers or drips its body a byte at a time. The late
// stream is answered 408 and reset; the connection goes on. Else a client
// holds a stream, and up to the connection's window of body, for ever.
func TestH2SlowRequestBody(t *testing.T) {
	const read = 300 * time.Millisecond
	r := NewRouter()
	r.POST("/upload", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("up") })
	addr, pool := startH2(t, ServerConfig{ReadTimeout: read}, r)
	for _, tc := range []struct {
		name string
		drip bool
	}{{"silent", false}, {"drip", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialH2Raw(t, addr, pool)
			if err := c.request(1, "POST", "/upload", false); err != nil {
				t.Fatal(err)
			}
			if err := c.fr.WriteData(1, false, []byte("a")); err != nil {
				t.Fatal(err)
			}
			if err := c.flush(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			stop := make(chan struct{})
			var wait func()
			if tc.drip {
				wait = c.write(func() error {
					tick := time.NewTicker(read / 5)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return nil
						case <-tick.C:
						}
						if err := c.fr.WriteData(1, false, []byte("a")); err != nil {
							return err
						}
						if err := c.flush(); err != nil {
							return err
						}
					}
				})
			}
			c.until("the stream's end", 10*read, func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v", f.ErrCode)
				case *http2.RSTStreamFrame:
					return f.StreamID == 1
				}
				return false
			})
			close(stop)
			if wait != nil {
				wait()
			}
			if took := time.Since(start); took < read*2/3 {
				t.Errorf("ended after %s, before ReadTimeout %s", took, read)
			}
			if c.status[1] != fasthttp.StatusRequestTimeout {
				t.Errorf("the slow request: %d, want 408", c.status[1])
			}
			if err := c.sentinel(); err != nil {
				t.Fatal(err)
			}
			c.until("the PING's ACK", 5*time.Second, isSentinelAck)
		})
	}
	assertServes(t, addr, pool)
}

// A stream error that the frame reader finds ends the connection with
// GOAWAY, not a bare close (RFC 9113 5.4.1): a WINDOW_UPDATE of 0 on a
// stream (6.9), and padding longer than its HEADERS frame (6.2), after
// which the HPACK state is lost. Streams under way get no answer.
func TestH2StreamErrorGoAway(t *testing.T) {
	b := newH2Blocking()
	addr, pool := startH2(t, ServerConfig{}, b.r)
	t.Cleanup(b.open)
	for _, tc := range []struct {
		name  string
		frame func(c *h2Raw) error
	}{
		{"WINDOW_UPDATE of 0", func(c *h2Raw) error { return c.fr.WriteWindowUpdate(1, 0) }},
		{"HEADERS padding too long", func(c *h2Raw) error {
			payload := append([]byte{200}, c.block("GET", "/ok")...)
			return c.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, payload)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialH2Raw(t, addr, pool)
			c.fr.AllowIllegalWrites = true
			if err := c.request(1, "GET", "/block", true); err != nil {
				t.Fatal(err)
			}
			if err := tc.frame(c); err != nil {
				t.Fatal(err)
			}
			if err := c.sentinel(); err != nil {
				t.Fatal(err)
			}
			c.awaitGoAway(http2.ErrCodeProtocol, 5*time.Second)
		})
	}
	b.open()
	assertServes(t, addr, pool)
}

// Zero-window stalls by the thousand: streams whose client never opens
// its window, more of them than the handler pool has goroutines, do not
// starve other clients: a request on a fresh connection is answered at
// once, not after WriteTimeout.
func TestH2ZeroWindowStallsDoNotStarve(t *testing.T) {
	const write = 5 * time.Second
	r := NewRouter()
	r.GET("/small", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("small") })
	addr, pool := startH2(t, ServerConfig{WriteTimeout: write}, r)
	stalled := h2PoolMax() + h2MaxStreams
	var heads atomic.Int64 // responses begun: their body waits for window
	full := make(chan struct{})
	var once sync.Once
	for n := 0; n < stalled; {
		c := dialH2Raw(t, addr, pool, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		for i := 0; i < h2MaxStreams && n < stalled; i++ {
			if err := c.request(uint32(2*i+1), "GET", "/small", true); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				f, err := c.read(time.Now().Add(4 * write))
				if err != nil {
					return
				}
				if _, ok := f.(*http2.HeadersFrame); ok && heads.Add(1) >= int64(h2PoolMax()) {
					once.Do(func() { close(full) })
				}
			}
		}()
	}
	// As many responses wait for window as the pool has goroutines.
	select {
	case <-full:
	case <-time.After(write):
		t.Fatalf("only %d of %d responses begun", heads.Load(), stalled)
	}
	start := time.Now()
	assertServes(t, addr, pool)
	if took := time.Since(start); took > write/2 {
		t.Errorf("a fresh connection was answered after %s: it waited for the stalled streams' WriteTimeout %s", took, write)
	}
}

// WriteTimeout bounds each write, from when it begins: a connection quiet
// for longer than WriteTimeout then sends a response larger than its
// write buffer whole. (Set only at each flush, the deadline had passed
// when the buffer filled: the write failed half done, and the client saw
// a broken TLS record.)
func TestH2WriteDeadlineAfterQuiet(t *testing.T) {
	const write = 200 * time.Millisecond
	r := NewRouter()
	big := bytes.Repeat([]byte("z"), 128<<10)
	r.GET("/big", func(ctx *fasthttp.RequestCtx) { ctx.SetBody(big) })
	addr, pool := startH2(t, ServerConfig{WriteTimeout: write, IdleTimeout: 20 * write}, r)
	c := dialH2Raw(t, addr, pool, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	if err := c.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		t.Fatal(err)
	}
	for i, id := range []uint32{1, 3} {
		if i > 0 {
			time.Sleep(3 * write) // the quiet itself, not a wait for anything
		}
		if err := c.request(id, "GET", "/big", true); err != nil {
			t.Fatal(err)
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		c.readAnswers([]uint32{id}, string(big), 5*time.Second)
	}
}

// Clients that never read their socket: the responses of a thousand of
// their streams wait on the connections' writes, each up to WriteTimeout,
// and do not starve other clients of the handler pool: a pool goroutine
// queues its answer for the connection's writer (queueResponse) and is
// free again, whatever the socket does.
func TestH2UnreadConnectionsDoNotStarve(t *testing.T) {
	const write = 5 * time.Second
	r := NewRouter()
	big := bytes.Repeat([]byte("z"), 128<<10)
	var ran atomic.Int64
	r.GET("/big", func(ctx *fasthttp.RequestCtx) {
		ran.Add(1)
		ctx.SetBody(big)
	})
	addr, pool := startH2(t, ServerConfig{WriteTimeout: write}, r)
	stalled := 2 * h2PoolMax() // far more than the sockets' buffers hold
	for n := 0; n < stalled; {
		c := dialH2Raw(t, addr, pool, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
		if err := c.fr.WriteWindowUpdate(0, 1<<30); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < h2MaxStreams && n < stalled; i++ {
			if err := c.request(uint32(2*i+1), "GET", "/big", true); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
	}
	// Every pool goroutine has taken a stream, and writes its answer.
	for deadline := time.Now().Add(write); ran.Load() < int64(h2PoolMax()); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d handlers ran", ran.Load())
		}
	}
	start := time.Now()
	assertServes(t, addr, pool)
	if took := time.Since(start); took > write/2 {
		t.Errorf("a fresh connection was answered after %s: it waited for the unread connections' WriteTimeout %s", took, write)
	}
}

// A SETTINGS frame holds up to 2 730 values; were each
// INITIAL_WINDOW_SIZE among them applied to every open stream, a frame
// would cost 2 730 x 250 window updates: milliseconds of the server's CPU
// for 16 KB of the client's, a thousand times a second under the flood
// limit. The server applies a frame's last value once: with 250 streams
// open, such frames cost about what they cost with none.
func TestH2SettingsWindowValuesAppliedOnce(t *testing.T) {
	b := newH2Blocking()
	addr, pool := startH2(t, ServerConfig{}, b.r)
	t.Cleanup(b.open)
	var values []http2.Setting
	for i := range (h2MaxFrame - 6) / 6 {
		values = append(values, http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(65535 + i%2)})
	}
	const frames = 200
	took := func(streams int) time.Duration {
		c := dialH2Raw(t, addr, pool)
		for i := range streams {
			if err := c.request(uint32(2*i+1), "GET", "/block", true); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.sentinel(); err != nil {
			t.Fatal(err)
		}
		c.until("the streams' start", 5*time.Second, isSentinelAck)
		start := time.Now()
		wait := c.write(func() error {
			for range frames {
				if err := c.fr.WriteSettings(values...); err != nil {
					return err
				}
			}
			return c.sentinel()
		})
		c.until("the SETTINGS' ACKs", 60*time.Second, func(f http2.Frame) bool {
			if _, ok := f.(*http2.GoAwayFrame); ok {
				t.Fatal("GOAWAY")
			}
			return isSentinelAck(f)
		})
		wait()
		return time.Since(start)
	}
	none := took(0)
	full := took(h2MaxStreams)
	t.Logf("%d SETTINGS of %d values: %s with no stream, %s with %d", frames, len(values), none, full, h2MaxStreams)
	if full > 4*none+100*time.Millisecond {
		t.Errorf("with %d streams open, %s; with none, %s: each value went to every stream", h2MaxStreams, full, none)
	}
}
