package worker

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// A raw HTTP/2 client over TLS for the tests of tls_h2_dos_test.go and
// tls_h2_fuzz_test.go: frames as they are, every read under a deadline.

// h2DosSNI is the name the tests' certificate and requests carry.
const h2DosSNI = "dos.test"

// h2Sentinel is the PING payload that ends a test's frames.
var h2Sentinel = [8]byte{'s', 'e', 'n', 't', 'i', 'n', 'e', 'l'}

// startH2 serves r over TLS with HTTP/2 on a loopback port.
func startH2(t testing.TB, cfg ServerConfig, r *Router) (addr string, pool *x509.CertPool) {
	t.Helper()
	cert, key, pool := devPair(t, h2DosSNI)
	cfg.EnableHTTP2 = true
	s := quietManager(t).NewServer(cfg)
	r.GET("/ok", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	s.SetRouter(r)
	return listenTLS(t, s, cert, key), pool
}

// h2ServerOf is the HTTP/2 server of s, listening with HTTP/2 on TLS.
func h2ServerOf(s Server) *h2Server {
	sv := s.(*server)
	sv.m.mu.Lock()
	defer sv.m.mu.Unlock()
	return sv.bound.tls.h2
}

// h2Raw is a client's raw HTTP/2 connection: frames are written as they
// are given (buffered until flush), and read under a deadline.
type h2Raw struct {
	t    testing.TB
	conn *tls.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer

	dec    *hpack.Decoder
	cur    uint32            // the stream whose header block is decoded
	status map[uint32]int    // :status of each answered stream
	body   map[uint32][]byte // DATA received, by stream
	wmu    sync.Mutex        // writes from a test's writer goroutine
}

// dialH2Raw opens a connection, sends the preface and SETTINGS with
// settings, and leaves the server's frames unread.
func dialH2Raw(t testing.TB, addr string, pool *x509.CertPool, settings ...http2.Setting) *h2Raw {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: h2DosSNI, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	c := &h2Raw{t: t, conn: conn, bw: bufio.NewWriterSize(conn, 64<<10),
		status: make(map[uint32]int), body: make(map[uint32][]byte)}
	t.Cleanup(func() { _ = conn.Close() })
	c.fr = http2.NewFramer(c.bw, conn)
	c.fr.MaxHeaderListSize = 1 << 20
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			c.status[c.cur], _ = strconv.Atoi(f.Value)
		}
	})
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// block encodes a request's header block: method and path, then extra
// fields.
func (c *h2Raw) block(method, path string, extra ...[2]string) []byte {
	c.hbuf.Reset()
	fields := append([][2]string{{":method", method}, {":scheme", "https"}, {":authority", h2DosSNI}, {":path", path}}, extra...)
	for _, f := range fields {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return bytes.Clone(c.hbuf.Bytes())
}

// request writes HEADERS for a request on stream id, which END_STREAM
// ends when end.
func (c *h2Raw) request(id uint32, method, path string, end bool) error {
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(method, path), EndStream: end, EndHeaders: true})
}

func (c *h2Raw) flush() error { return c.bw.Flush() }

// sentinel writes the PING that ends a test's frames, and flushes.
func (c *h2Raw) sentinel() error {
	if err := c.fr.WritePing(false, h2Sentinel); err != nil {
		return err
	}
	return c.flush()
}

// write runs frames on a goroutine of its own, under the write lock, then
// flushes, while the test reads; it returns a wait for its end. Write
// errors end it quietly: the server may well have closed the connection.
func (c *h2Raw) write(frames func() error) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if frames() == nil {
			_ = c.flush()
		}
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.t.Error("the writer did not end")
		}
	}
}

// read returns the next frame, headers decoded, data recorded; it fails
// past deadline.
func (c *h2Raw) read(deadline time.Time) (http2.Frame, error) {
	_ = c.conn.SetReadDeadline(deadline)
	f, err := c.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		c.cur = f.StreamID
		if _, err := c.dec.Write(f.HeaderBlockFragment()); err != nil {
			return nil, err
		}
	case *http2.ContinuationFrame:
		if _, err := c.dec.Write(f.HeaderBlockFragment()); err != nil {
			return nil, err
		}
	case *http2.DataFrame:
		c.body[f.StreamID] = append(c.body[f.StreamID], f.Data()...)
	}
	return f, nil
}

// until reads frames until stop says so, within timeout; what names the
// wait in a failure.
func (c *h2Raw) until(what string, timeout time.Duration, stop func(http2.Frame) bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.read(deadline)
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if stop(f) {
			return
		}
	}
}

// isSentinelAck reports whether f answers the sentinel PING.
func isSentinelAck(f http2.Frame) bool {
	p, ok := f.(*http2.PingFrame)
	return ok && p.IsAck() && p.Data == h2Sentinel
}

// awaitGoAway reads until GOAWAY, which must carry code, and then until
// the server closes the connection. The sentinel's ACK first fails: the
// server took what came before it.
func (c *h2Raw) awaitGoAway(code http2.ErrCode, timeout time.Duration) (lastStream uint32) {
	c.t.Helper()
	c.until("GOAWAY "+code.String(), timeout, func(f http2.Frame) bool {
		if isSentinelAck(f) {
			c.t.Fatalf("the sentinel PING was answered before a GOAWAY %v: the limit did not trip", code)
		}
		ga, ok := f.(*http2.GoAwayFrame)
		if !ok {
			return false
		}
		if ga.ErrCode != code {
			c.t.Fatalf("GOAWAY %v, want %v", ga.ErrCode, code)
		}
		lastStream = ga.LastStreamID
		return true
	})
	c.awaitClosed(timeout)
	return lastStream
}

// awaitClosed reads until the connection ends, within timeout, and
// returns the GOAWAY seen on the way, if any.
func (c *h2Raw) awaitClosed(timeout time.Duration) (goAway *http2.ErrCode) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.read(deadline)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.t.Fatalf("the connection was still open after %s", timeout)
		case err != nil:
			return goAway
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			code := ga.ErrCode
			goAway = &code
		}
	}
}

// assertServes checks that a fresh connection is still answered.
func assertServes(t *testing.T, addr string, pool *x509.CertPool) {
	t.Helper()
	status, body, code := h2Exchange(t, addr, pool, h2DosSNI,
		[2]string{":method", "GET"}, [2]string{":scheme", "https"}, [2]string{":authority", h2DosSNI}, [2]string{":path", "/ok"})
	if status != 200 || body != "ok" {
		t.Fatalf("after the abuse, a new connection got %d %q (reset %v)", status, body, code)
	}
}

// h2Blocking is a router whose /block handler waits for release.
type h2Blocking struct {
	r       *Router
	release chan struct{}
	once    sync.Once
}

// newH2Blocking's handlers block until open, which the test must also
// leave to a cleanup registered after the server's, so that it runs before
// the server's shutdown waits for them.
func newH2Blocking() *h2Blocking {
	b := &h2Blocking{r: NewRouter(), release: make(chan struct{})}
	b.r.GET("/block", func(ctx *fasthttp.RequestCtx) {
		<-b.release
		ctx.SetBodyString("done")
	})
	return b
}

func (b *h2Blocking) open() { b.once.Do(func() { close(b.release) }) }

// readAnswers reads until every stream of ids has ended, and checks that
// each was answered 200 with body.
func (c *h2Raw) readAnswers(ids []uint32, body string, timeout time.Duration) {
	c.t.Helper()
	left := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		left[id] = true
	}
	c.until("the answers", timeout, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if left[f.StreamID] {
				c.t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v", f.ErrCode)
		case *http2.HeadersFrame, *http2.DataFrame:
			id := f.Header().StreamID
			if left[id] && f.Header().Flags.Has(http2.FlagDataEndStream) {
				if c.status[id] != 200 || string(c.body[id]) != body {
					c.t.Fatalf("stream %d: %d %q", id, c.status[id], c.body[id])
				}
				delete(left, id)
			}
		}
		return len(left) == 0
	})
}

// awaitRefused reads until stream id is reset REFUSED_STREAM; an ACK of
// the sentinel first means it was taken.
func (c *h2Raw) awaitRefused(id uint32, timeout time.Duration) {
	c.t.Helper()
	c.until("REFUSED_STREAM", timeout, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID != id || f.ErrCode != http2.ErrCodeRefusedStream {
				c.t.Fatalf("stream %d reset %v, want only stream %d refused", f.StreamID, f.ErrCode, id)
			}
			return true
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v", f.ErrCode)
		case *http2.PingFrame:
			if isSentinelAck(f) {
				c.t.Fatalf("stream %d was not refused", id)
			}
		}
		return false
	})
}

// retryUntilServed opens a stream for GET /ok from id on, again while it
// is refused, until one is answered; it returns the next free id.
func (c *h2Raw) retryUntilServed(id uint32, timeout time.Duration) uint32 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for ; time.Now().Before(deadline); id += 2 {
		if err := c.request(id, "GET", "/ok", true); err != nil {
			c.t.Fatal(err)
		}
		if err := c.flush(); err != nil {
			c.t.Fatal(err)
		}
		for {
			f, err := c.read(deadline)
			if err != nil {
				c.t.Fatalf("stream %d: %v", id, err)
			}
			if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == id {
				if rst.ErrCode != http2.ErrCodeRefusedStream {
					c.t.Fatalf("stream %d reset %v", id, rst.ErrCode)
				}
				break
			}
			if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
				if c.status[id] != 200 || string(c.body[id]) != "ok" {
					c.t.Fatalf("stream %d: %d %q", id, c.status[id], c.body[id])
				}
				return id + 2
			}
		}
	}
	c.t.Fatalf("streams were still refused after %s", timeout)
	return 0
}
