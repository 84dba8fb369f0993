//go:build linux && !race

package worker

import (
	"bufio"
	"bytes"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

var loopHello = []byte("Hello, World!")

// newFedLoop returns a second event loop on a real binding, to be fed
// requests directly (no sockets), whose host "in.test" is inline, answers
// loopHello, and belongs to a tenant with a rate limit that never
// triggers, like the bench's respond hosts.
func newFedLoop(tb testing.TB) (*eventLoop, *loopConn) {
	tb.Helper()
	fixed := func(fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) { ctx.SetBody(loopHello) }
	}
	sm := quietManager(tb)
	if err := sm.RegisterHost("in.test", HostConfig{Inline: true, Middleware: []MiddlewareFunc{fixed}}); err != nil {
		tb.Fatal(err)
	}
	if err := sm.RegisterTenantConfig(TenantConfig{ID: "t", Hosts: []string{"in.test"}, RateLimits: unlimited}); err != nil {
		tb.Fatal(err)
	}
	_, addr := start(tb, sm, ServerConfig{}, nil)
	m := sm.(*serverManager)
	m.mu.Lock()
	b := m.bindings[addr]
	m.mu.Unlock()
	if b == nil {
		tb.Fatalf("no binding for %s", addr)
	}
	l := &eventLoop{b: b, flog: fasthttpLogger{}, maxHead: DefaultMaxHeaderBytes, br: bufio.NewReaderSize(nil, DefaultMaxHeaderBytes)}
	l.bw = bufio.NewWriterSize(&l.out, 4096)
	return l, &loopConn{fd: -1, raddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
}

var loopRequest = []byte("GET / HTTP/1.1\r\nHost: in.test\r\nUser-Agent: wrk\r\n\r\n")

// serveFed answers loopRequest on l, as the loop does for what it read.
func serveFed(tb testing.TB, l *eventLoop, c *loopConn) {
	l.out = l.out[:0]
	if used, v := l.request(c, loopRequest); v != served || used != len(loopRequest) {
		tb.Fatalf("request: verdict %d, %d bytes used, want served and %d", v, used, len(loopRequest))
	}
}

// The event loop's work for a request, from its bytes to its response's
// bytes (parsing, host lookup, the tenant limit, metrics, middleware),
// allocates nothing.
func TestAllocsLoopRequest(t *testing.T) {
	l, c := newFedLoop(t)
	serveFed(t, l, c)
	if !bytes.HasPrefix(l.out, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(l.out, loopHello) {
		t.Fatalf("response %q", l.out)
	}
	if n := testing.AllocsPerRun(1000, func() { serveFed(t, l, c) }); n != 0 {
		t.Errorf("%v allocations per request on the loop, want 0", n)
	}
}

// BenchmarkLoopRequest is the loop's user-space work for one request,
// without the system calls: what the bench's respond hosts cost on top of
// reading and writing the socket.
func BenchmarkLoopRequest(b *testing.B) {
	l, c := newFedLoop(b)
	b.ReportAllocs()
	for b.Loop() {
		serveFed(b, l, c)
	}
}
