package worker

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// exchange writes req on a new connection and reads until the server closes
// it or d passes. closed reports whether the server ended the connection
// (EOF or reset) rather than the deadline passing.
func exchange(t *testing.T, addr, req string, d time.Duration) (reply string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, req); err != nil && !isReset(err) {
		t.Fatalf("write: %v", err)
	}
	b, err := io.ReadAll(c)
	return string(b), err == nil || isReset(err)
}

func isReset(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// stillServes checks that a normal request gets its answer.
func stillServes(t *testing.T, addr, after string) {
	t.Helper()
	if code, body := get(t, addr, "ok.test", "/"); code != 200 || body != "ok" {
		t.Fatalf("after %s: GET = %d %q, want 200 ok", after, code, body)
	}
}

// badInputInline makes badInputServer's hosts inline (TestLoopBadInput,
// Linux only). Tests in this package do not run in parallel.
var badInputInline bool

// badInputServer answers GET / with "ok" and POST /upload with the size of
// its body, for every host; under TestLoopBadInput (h1_loop_test.go) the
// hosts "a" and "ok.test" are inline, so that the event loop meets the bad
// input first.
func badInputServer(t *testing.T, cfg ServerConfig) string {
	t.Helper()
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("ok"))
	r.POST("/upload", uploadSize)
	if badInputInline {
		cfg.HostConfigs = map[string]*HostConfig{
			"a":       {Inline: true, Middleware: []MiddlewareFunc{answerBadInput}},
			"ok.test": {Inline: true, Middleware: []MiddlewareFunc{answerBadInput}},
		}
	}
	_, addr := start(t, sm, cfg, r)
	return addr
}

func uploadSize(ctx *fasthttp.RequestCtx) {
	ctx.SetBodyString("got " + strconv.Itoa(len(ctx.PostBody())))
}

// answerBadInput is badInputServer's router as an inline host's middleware.
func answerBadInput(fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		switch {
		case ctx.IsGet() && string(ctx.Path()) == "/":
			ctx.SetBodyString("ok")
		case ctx.IsPost() && string(ctx.Path()) == "/upload":
			uploadSize(ctx)
		default:
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}
}

func TestRequestTooLarge(t *testing.T) {
	addr := badInputServer(t, ServerConfig{MaxRequestSize: 1024, MaxHeaderBytes: 2048})
	big := strings.Repeat("x", 1025)
	tests := []struct {
		name, req, want string
	}{
		{"body at the limit", "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 1024\r\n\r\n" + big[:1024], "200"},
		// Only the head is sent: the Content-Length alone must be refused.
		{"content-length over the limit", "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n", "413"},
		{"huge content-length", "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 9000000000\r\n\r\n", "413"},
		// Bodies stream (see bodyLimit): a chunked one is refused once more
		// than the limit has arrived, not on the chunk size it announces.
		{"chunked over the limit", "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n" + big + "\r\n", "413"},
		{"headers at the limit", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Pad: " + strings.Repeat("p", 1900) + "\r\n\r\n", "200"},
		{"headers over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat("p", 2100) + "\r\n\r\n", "431"},
		{"many headers over the limit", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: b\r\n", 400) + "\r\n", "431"},
	}
	for _, tt := range tests {
		reply, closed := exchange(t, addr, tt.req, 5*time.Second)
		if got := statusOf(reply); got != tt.want {
			t.Errorf("%s: status %q, want %s (reply %.80q)", tt.name, got, tt.want, reply)
		}
		if tt.want != "200" && !closed {
			t.Errorf("%s: the connection stayed open after %s", tt.name, tt.want)
		}
		stillServes(t, addr, tt.name)
	}
}

// A client that sends its whole oversized body before reading reads the 413,
// not a reset: the server drains what it refused before closing.
func TestRequestTooLargeSeenByAStreamingClient(t *testing.T) {
	addr := badInputServer(t, ServerConfig{MaxRequestSize: 1024, MaxHeaderBytes: 2048})
	for _, n := range []int{2 << 10, 1 << 20, 3 << 20} {
		code, _ := do(t, "POST", addr, "a", "/upload", strings.NewReader(strings.Repeat("x", n)))
		if code != 413 {
			t.Errorf("POST of %d bytes = %d, want 413", n, code)
		}
		code, _, _ = doHeader(t, "GET", addr, "a", "/?"+strings.Repeat("q", 1<<20), nil)
		if code != 431 {
			t.Errorf("GET with a 1 MiB query = %d, want 431", code)
		}
	}
	stillServes(t, addr, "big uploads")
}

func TestMalformedRequests(t *testing.T) {
	addr := badInputServer(t, ServerConfig{})
	tests := []struct{ name, req string }{
		{"garbage", "GARBAGE\r\n\r\n"},
		{"binary", "\x00\x01\x02\x03\xff\xfe\r\n\r\n"},
		{"no method", " / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"no path", "GET HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"bad version", "GET / HTTP/9\r\nHost: a\r\n\r\n"},
		{"header without colon", "GET / HTTP/1.1\r\nHost: a\r\nBadHeader\r\n\r\n"},
		{"bad content-length", "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"},
		{"negative content-length", "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"},
		{"bad chunk size", "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
	}
	for _, tt := range tests {
		reply, closed := exchange(t, addr, tt.req, 5*time.Second)
		if got := statusOf(reply); got != "400" && got != "" {
			t.Errorf("%s: status %q, want 400 or nothing (reply %.80q)", tt.name, got, reply)
		}
		if !closed {
			t.Errorf("%s: the connection stayed open", tt.name)
		}
		stillServes(t, addr, tt.name)
	}
}

func TestMaxConnections(t *testing.T) {
	addr := badInputServer(t, ServerConfig{MaxConnections: 2})
	// Two keep-alive connections, each with a request answered, hold both slots.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil || statusOf(string(buf[:n])) != "200" {
			t.Fatalf("held connection: %q %v", buf[:n], err)
		}
	}
	reply, closed := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	if got := statusOf(reply); got != "503" || !closed {
		t.Fatalf("third connection: status %q closed %v, want 503 and closed (%.80q)", got, closed, reply)
	}
	// Freeing a slot lets the next client in.
	held[0].Close()
	waitFor(t, "a free slot", 5*time.Second, func() bool {
		reply, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
		return statusOf(reply) == "200"
	})
}

// The server cuts off a client that sends its request too slowly, at
// ReadTimeout, however steadily it trickles bytes.
func TestSlowClientsCutOff(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	addr := badInputServer(t, ServerConfig{ReadTimeout: readTimeout, IdleTimeout: readTimeout})
	tests := []struct {
		name, head, drip string
	}{
		{"silent", "", ""},
		{"slow headers", "GET / HTTP/1.1\r\nHost: a\r\n", "X-A: b\r\n"},
		{"slow body", "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", "xxxxxxxx"},
		{"idle keep-alive", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""},
	}
	for _, tt := range tests {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		_ = c.SetReadDeadline(begin.Add(10 * time.Second))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := io.WriteString(c, tt.head); err != nil || tt.drip == "" {
				return
			}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(c, tt.drip); err != nil {
						return
					}
				}
			}
		})
		_, err = io.ReadAll(c) // whatever the server says, until it closes
		elapsed := time.Since(begin)
		close(stop)
		c.Close()
		wg.Wait()
		if err != nil && !isReset(err) {
			t.Errorf("%s: still open after %s: %v", tt.name, elapsed, err)
		}
		// Wide bounds: not before the timeout, and well before our 10 s deadline.
		if elapsed < readTimeout*2/3 || elapsed > 5*time.Second {
			t.Errorf("%s: cut off after %s, want about %s", tt.name, elapsed, readTimeout)
		}
		stillServes(t, addr, tt.name)
	}
}

// A client that stops reading its response is cut off at WriteTimeout.
func TestSlowReaderCutOff(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	gaveUp := make(chan time.Duration, 1)
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("ok"))
	r.GET("/endless", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			chunk := []byte(strings.Repeat("z", 64<<10))
			begin := time.Now()
			for time.Since(begin) < 20*time.Second {
				if _, err := w.Write(chunk); err != nil {
					break
				}
				if err := w.Flush(); err != nil {
					break
				}
			}
			gaveUp <- time.Since(begin)
		})
	})
	_, addr := start(t, sm, ServerConfig{WriteTimeout: writeTimeout}, r)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /endless HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read nothing.
	select {
	case d := <-gaveUp:
		if d > 5*time.Second {
			t.Errorf("the server wrote to a client that reads nothing for %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server never gave up on a client that reads nothing")
	}
	stillServes(t, addr, "a slow reader")
}
