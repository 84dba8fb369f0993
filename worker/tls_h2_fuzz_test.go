package worker

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzH2Frames writes the fuzzer's bytes, as frames, to a connection of
// the HTTP/2 server, after the preface and an empty SETTINGS; then the
// client closes its side. Whatever the bytes: nothing panics (the reader's
// recover logs it: that fails too), the server closes the connection
// within a bound, and its connection goroutine ends.
func FuzzH2Frames(f *testing.F) {
	for _, seed := range h2FuzzSeeds(f) {
		f.Add(seed)
	}
	fs := startH2Fuzz(f)
	f.Fuzz(func(t *testing.T, frames []byte) {
		fs.exchange(t, frames)
	})
}

// h2FuzzServer is the server FuzzH2Frames talks to: a host served on the
// pool (the router) and an inline one, in.test.
type h2FuzzServer struct {
	addr   string
	pool   *x509.CertPool
	h2     *h2Server
	panics *panicLog
}

// panicLog notes the log lines that tell of a recovered panic.
type panicLog struct {
	mu    sync.Mutex
	lines []string
}

func (p *panicLog) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("panicked")) {
		p.mu.Lock()
		p.lines = append(p.lines, string(b))
		p.mu.Unlock()
	}
	return len(b), nil
}

func (p *panicLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lines
	p.lines = nil
	return l
}

func startH2Fuzz(f *testing.F) *h2FuzzServer {
	cert, key, pool := devPair(f, h2DosSNI, "in.test")
	fs := &h2FuzzServer{pool: pool, panics: &panicLog{}}
	sm := NewServerManager()
	sm.SetLogger(zerolog.New(fs.panics).Level(zerolog.ErrorLevel))
	f.Cleanup(func() { _ = sm.StopAll() })
	big := bytes.Repeat([]byte("b"), 100<<10)
	answer := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/big":
			ctx.SetBody(big)
		case "/stream":
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for range 3 {
					_, _ = w.Write(big[:20<<10])
					_ = w.Flush()
				}
			})
		case "/echo":
			ctx.SetBody(ctx.PostBody())
		default:
			ctx.SetBodyString("ok")
		}
	}
	s := sm.NewServer(ServerConfig{
		EnableHTTP2: true, WriteTimeout: time.Second, MaxRequestSize: 64 << 10,
		HostConfigs: map[string]*HostConfig{
			"in.test": {Inline: true, Middleware: []MiddlewareFunc{func(fasthttp.RequestHandler) fasthttp.RequestHandler { return answer }}},
		},
	})
	r := NewRouter()
	for _, m := range []string{"GET", "POST"} {
		for _, p := range []string{"/ok", "/big", "/stream", "/echo"} {
			r.Handle(m, p, answer)
		}
	}
	s.SetRouter(r)
	fs.addr = listenTLS(f, s, cert, key)
	fs.h2 = h2ServerOf(s)
	return fs
}

// exchange sends frames on a new connection, then a PING; it lets the
// server answer (until the PING's ACK and no stream runs, briefly: the
// bytes may end inside a frame, or leave a stream open), closes the
// client's side, and checks the property.
func (fs *h2FuzzServer) exchange(t *testing.T, frames []byte) {
	const bound = 5 * time.Second
	const settle = 20 * time.Millisecond
	conn, err := tls.Dial("tcp", fs.addr, &tls.Config{RootCAs: fs.pool, ServerName: h2DosSNI, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(bound))
	read := make(chan error, 1)
	answered := make(chan struct{}) // the PING's ACK, a GOAWAY, or the end
	go func() {
		var once sync.Once
		done := func() { once.Do(func() { close(answered) }) }
		defer done()
		fr := http2.NewFramer(nil, conn)
		fr.SetMaxReadFrameSize(1<<24 - 1)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				read <- err
				return
			}
			if _, ok := f.(*http2.GoAwayFrame); ok || isSentinelAck(f) {
				done()
			}
		}
	}()
	var out bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, nil)
	_ = fr.WriteSettings()
	out.Write(frames)
	_ = fr.WritePing(false, h2Sentinel)
	_, _ = conn.Write(out.Bytes()) // the server may have closed already
	select {
	case <-answered:
	case <-time.After(settle):
	}
	for end := time.Now().Add(settle); fs.h2running() > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	_ = conn.CloseWrite()
	// A reset, as a server that closes with bytes unread causes, is a
	// close too; a timeout is a hang, and any other error a frame that
	// does not parse.
	var ne net.Error
	switch err := <-read; {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the server did not close the connection within %s of the client's close: %v", bound, err)
	case errors.Is(err, io.EOF), errors.As(err, &ne):
	default:
		t.Fatalf("the server wrote a bad frame: %v", err)
	}
	deadline := time.Now().Add(bound)
	for fs.h2conns() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connection goroutines still run %s after the client closed", fs.h2conns(), bound)
		}
		time.Sleep(time.Millisecond)
	}
	if p := fs.panics.take(); len(p) > 0 {
		t.Fatalf("the server panicked: %s", strings.Join(p, ""))
	}
}

// h2conns counts the server's connections; h2running their streams
// whose handler or response has not ended.
func (fs *h2FuzzServer) h2conns() int {
	fs.h2.mu.Lock()
	defer fs.h2.mu.Unlock()
	return len(fs.h2.conns)
}

func (fs *h2FuzzServer) h2running() int {
	fs.h2.mu.Lock()
	defer fs.h2.mu.Unlock()
	n := 0
	for c := range fs.h2.conns {
		n += int(c.running.Load())
	}
	return n
}

// h2FuzzSeeds are a few well-formed exchanges (after the preface and the
// client's SETTINGS), each of frames that a server must take.
func h2FuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	build := func(frames func(fr *http2.Framer, block func(host, method, path string, extra ...string) []byte)) {
		var buf, hb bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		enc := hpack.NewEncoder(&hb)
		block := func(host, method, path string, extra ...string) []byte {
			hb.Reset()
			for _, kv := range [][2]string{{":method", method}, {":scheme", "https"}, {":authority", host}, {":path", path}} {
				_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
			}
			for i := 0; i+1 < len(extra); i += 2 {
				_ = enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
			}
			return bytes.Clone(hb.Bytes())
		}
		frames(fr, block)
		seeds = append(seeds, buf.Bytes())
	}
	build(func(fr *http2.Framer, block func(string, string, string, ...string) []byte) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(h2DosSNI, "GET", "/ok"), EndStream: true, EndHeaders: true})
	})
	build(func(fr *http2.Framer, block func(string, string, string, ...string) []byte) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(h2DosSNI, "POST", "/echo", "content-length", "5"), EndHeaders: true})
		_ = fr.WriteData(1, true, []byte("hello"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block("in.test", "GET", "/ok"), EndStream: true, EndHeaders: true})
	})
	build(func(fr *http2.Framer, block func(string, string, string, ...string) []byte) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("in.test", "GET", "/big"), EndStream: true, EndHeaders: true})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(h2DosSNI, "GET", "/stream"), EndStream: true, EndHeaders: true})
		_ = fr.WriteWindowUpdate(1, 1000)
		_ = fr.WriteWindowUpdate(0, 1<<20)
		_ = fr.WriteRSTStream(3, http2.ErrCodeCancel)
		_ = fr.WritePing(false, [8]byte{1})
	})
	build(func(fr *http2.Framer, block func(string, string, string, ...string) []byte) {
		b := block(h2DosSNI, "POST", "/echo", "x-a", "1", "te", "trailers")
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:len(b)/2]})
		_ = fr.WriteContinuation(1, true, b[len(b)/2:])
		_ = fr.WriteData(1, false, []byte("body"))
		_ = fr.WriteData(1, false, nil)
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(h2DosSNI, "POST", "/echo")[:0], EndStream: true, EndHeaders: true})
		_ = fr.WritePriority(5, http2.PriorityParam{StreamDep: 1, Weight: 10})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block(h2DosSNI, "HEAD", "/big"), EndStream: true, EndHeaders: true})
		_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	})
	return seeds
}
