package worker

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// refusalServer serves a.test and b.test in one of three ways: "loop"
// (inline hosts on plain TCP: the event loop meets each request first),
// "goroutine" (the event loop off: fasthttp on a goroutine per
// connection) and "tls" (HTTP/1.1 over TLS). Its ReadTimeout is long, so
// that a request left waiting shows as a hang. dial connects to it; hits
// returns, and forgets, what reached a handler.
func refusalServer(t *testing.T, mode string) (dial func() net.Conn, hits func() string) {
	t.Helper()
	var mu sync.Mutex
	var got strings.Builder
	answer := func(name string) MiddlewareFunc {
		return func(fasthttp.RequestHandler) fasthttp.RequestHandler {
			return func(ctx *fasthttp.RequestCtx) {
				mu.Lock()
				got.WriteString(name + string(ctx.Path()) + " ")
				mu.Unlock()
				ctx.SetBodyString(name + " " + string(ctx.Path()))
			}
		}
	}
	cfg := ServerConfig{ReadTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second}
	cfg.HostConfigs = map[string]*HostConfig{
		"a.test": {Inline: mode == "loop", Middleware: []MiddlewareFunc{answer("A")}},
		"b.test": {Inline: mode == "loop", Middleware: []MiddlewareFunc{answer("B")}},
	}
	cfg.DisableEventLoop = mode == "goroutine"
	sm := quietManager(t)
	hits = func() string {
		mu.Lock()
		defer mu.Unlock()
		s := got.String()
		got.Reset()
		return s
	}
	if mode != "tls" {
		_, addr := start(t, sm, cfg, nil)
		return func() net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, hits
	}
	certFile, keyFile, pool := devPair(t)
	addr := listenTLS(t, sm.NewServer(cfg), certFile, keyFile)
	return func() net.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, hits
}

// refusedAndClosed sends req on a new connection and reads until the
// server closes it, failing the test unless the answer is one 400 and the
// close comes well within d (far less than the server's ReadTimeout).
func refusedAndClosed(t *testing.T, dial func() net.Conn, req string, d time.Duration) {
	t.Helper()
	c := dial()
	defer c.Close()
	begin := time.Now()
	_ = c.SetDeadline(begin.Add(d))
	if _, err := io.WriteString(c, req); err != nil && !isReset(err) {
		t.Fatalf("write: %v", err)
	}
	b, err := io.ReadAll(c)
	reply := string(b)
	if err != nil && !isReset(err) {
		t.Errorf("still open after %s (reply %.120q)", time.Since(begin).Round(time.Millisecond), reply)
	}
	if got := statusOf(reply); got != "400" {
		t.Errorf("status %q, want 400 (reply %.160q)", got, reply)
	}
	if n := strings.Count(reply, "HTTP/1.1 "); n > 1 {
		t.Errorf("%d responses, want 1: the request behind the 400 was served (%.300q)", n, reply)
	}
}

// The heads Rockstar refuses, each with a request pipelined behind it:
// the answer is a single 400 and the connection closes at once, on the
// event loop, on a goroutine and over TLS; no handler runs.
func TestRefusalsCloseTheConnection(t *testing.T) {
	const next = "GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n"
	post := "POST /upload HTTP/1.1\r\nHost: a.test\r\n"
	tests := []struct{ name, req string }{
		// Ambiguous hosts (h1_smuggling.go).
		{"host with userinfo", "GET /admin HTTP/1.1\r\nHost: b.test@a.test\r\n\r\n" + next},
		{"host with empty userinfo", "GET /admin HTTP/1.1\r\nHost: @a.test\r\n\r\n" + next},
		{"absolute-form, other host", "GET http://b.test/admin HTTP/1.1\r\nHost: a.test\r\n\r\n" + next},
		{"absolute-form with userinfo", "GET http://b.test@a.test/admin HTTP/1.1\r\nHost: a.test\r\n\r\n" + next},
		{"CL and TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next},
		// obs-fold: unfolded, these would be read as framing or routing.
		{"folded Transfer-Encoding", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + next},
		{"folded Transfer-Encoding, tab", post + "Transfer-Encoding: x\r\n\tchunked\r\n\r\n0\r\n\r\n" + next},
		{"folded Content-Length", post + "Content-Length:\r\n 3\r\n\r\nabc" + next},
		{"folded Host", "GET /admin HTTP/1.1\r\nHost:\r\n b.test\r\n\r\n" + next},
		{"folded other header", "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: b\r\n c\r\n\r\n" + next},
		// Transfer-Encoding other than chunked (RFC 9112 §6.1).
		{"TE identity", post + "Transfer-Encoding: identity\r\n\r\n" + next},
		{"TE identity with CL", post + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc" + next},
		{"TE identity, odd case", post + "transfer-encoding: IDENTITY\r\nContent-Length: 3\r\n\r\nabc" + next},
		// Heads nothing follows that fasthttp would wait on for ever.
		{"bare LF blank line", "GET / HTTP/1.1\r\nHost: a.test\r\n\n"},
		{"bare LF throughout", "GET / HTTP/1.1\nHost: a.test\n\n"},
		{"bare LF, then CRLF", "GET / HTTP/1.1\r\nHost: a.test\n\r\n"},
		{"HTTP/0.9", "GET /\r\n"},
		{"HTTP/0.9, bare LF", "GET /\n"},
	}
	for _, mode := range []string{"loop", "goroutine", "tls"} {
		t.Run(mode, func(t *testing.T) {
			dial, hits := refusalServer(t, mode)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					refusedAndClosed(t, dial, tt.req, 5*time.Second)
					if h := hits(); h != "" {
						t.Errorf("handlers ran: %s", h)
					}
				})
			}
			// The well-formed requests are still served, two on a connection.
			c := dial()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, "GET /one HTTP/1.1\r\nHost: a.test\r\n\r\nGET /two HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(c)
			if reply := string(b); strings.Count(reply, "HTTP/1.1 200 OK") != 2 || !strings.Contains(reply, "A /one") || !strings.Contains(reply, "B /two") {
				t.Errorf("well-formed requests: %q", reply)
			}
			if h := hits(); h != "A/one B/two " {
				t.Errorf("handlers ran: %q, want A/one B/two", h)
			}
		})
	}
}

// The head watch (h1_headwatch.go) refuses only heads: a body whose pieces
// end in what looks like a bare-LF blank line, a stray CRLF after a body
// that ends in LF, and a head sent a byte at a time all get their
// answers, in every mode.
func TestHeadWatchLetsBodiesBe(t *testing.T) {
	post := "POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 8\r\n\r\n"
	tests := []struct {
		name   string
		pieces []string // written one at a time, each after the last has surely been read
		want   []string // in the reply
	}{
		{"body split after a bare LF blank line", []string{post + "ab\n\n", "cdef"}, []string{"A /upload"}},
		{"body split after LF CRLF", []string{post + "ab\n\r\n", "cde"}, []string{"A /upload"}},
		{"body alone split after LF LF", []string{post, "ab\n\n", "cdef"}, []string{"A /upload"}},
		{"stray CRLF after a body ending in LF", []string{post + "abcdef\n\n\r\n", "GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n"}, []string{"A /upload", "A /next"}},
		{"head a byte at a time", strings.Split("GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n", ""), []string{"A /slow"}},
	}
	for _, mode := range []string{"loop", "goroutine", "tls"} {
		t.Run(mode, func(t *testing.T) {
			dial, _ := refusalServer(t, mode)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := dial()
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					for _, p := range tt.pieces {
						if _, err := io.WriteString(c, p); err != nil {
							t.Fatal(err)
						}
						time.Sleep(20 * time.Millisecond) // most likely read alone; if not, the case is weaker, never wrong
					}
					if cw, ok := c.(interface{ CloseWrite() error }); ok {
						_ = cw.CloseWrite()
					}
					b, _ := io.ReadAll(c)
					reply := string(b)
					if n := strings.Count(reply, "HTTP/1.1 200 OK"); n != len(tt.want) {
						t.Errorf("%d answers of 200, want %d: %q", n, len(tt.want), reply)
					}
					for _, w := range tt.want {
						if !strings.Contains(reply, w) {
							t.Errorf("no %q in %q", w, reply)
						}
					}
				})
			}
		})
	}
}

func TestHeadWatchStuck(t *testing.T) {
	tests := []struct {
		reads []string
		want  bool
	}{
		{[]string{"GET / HTTP/1.1\r\nHost: a\r\n\n"}, true},
		{[]string{"GET / HTTP/1.1\r\nHost: a\r\n", "\n"}, true},
		{[]string{"GET / HTTP/1.1\r\nHost: a\n", "\r", "\n"}, true},
		{[]string{"GET / HTTP/1.1\r\nHost: a\r\n\r\n"}, false},
		{[]string{"GET / HTTP/1.1\r\nHost: a\r\n\r", "\n"}, false},
		{[]string{"GET / HTTP/1.1\r\nHost: a\r\n"}, false},
		{[]string{"\n\r\n"}, true}, // what came before is not known: not a CR, or fasthttp would not ask
		{[]string{"\n"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		w := headWatch{on: true, inHead: true}
		for _, r := range tt.reads {
			w.saw([]byte(r))
		}
		if got := w.stuck(); got != tt.want {
			t.Errorf("after %q: stuck %v, want %v", tt.reads, got, tt.want)
		}
		w.responding()
		if w.stuck() {
			t.Errorf("after %q and a response: stuck", tt.reads)
		}
	}
}
