//go:build linux

package worker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The bad-input tests again, with their hosts inline: every connection
// starts on the event loop, which serves what it can and hands the rest
// on, bad input included, to fasthttp.
func TestLoopBadInput(t *testing.T) {
	badInputInline = true
	defer func() { badInputInline = false }()
	for _, tt := range []struct {
		name string
		test func(*testing.T)
	}{
		{"RequestTooLarge", TestRequestTooLarge},
		{"RequestTooLargeSeenByAStreamingClient", TestRequestTooLargeSeenByAStreamingClient},
		{"MalformedRequests", TestMalformedRequests},
		{"MaxConnections", TestMaxConnections},
		{"SlowClientsCutOff", TestSlowClientsCutOff},
		{"ServerPhaseTimeouts", TestServerPhaseTimeouts},
		{"SlowlorisHundreds", TestSlowlorisHundreds},
	} {
		t.Run(tt.name, tt.test)
	}
}

// loopServer serves three hosts: "in.test" and "big.test" are inline,
// "go.test" is not. Each answers with its name and the path; big.test
// answers with size bytes. onLoop counts the requests whose handler ran
// on the event loop, offLoop the others.
type loopServer struct {
	sm              ServerManager
	addr            string
	onLoop, offLoop atomic.Int64
}

func newLoopServer(t *testing.T, cfg ServerConfig, size int) *loopServer {
	t.Helper()
	ls := &loopServer{sm: quietManager(t)}
	big := bytes.Repeat([]byte("b"), size)
	answer := func(name string) MiddlewareFunc {
		return func(fasthttp.RequestHandler) fasthttp.RequestHandler {
			return func(ctx *fasthttp.RequestCtx) {
				if _, ok := ctx.Conn().(*loopConn); ok {
					ls.onLoop.Add(1)
				} else {
					ls.offLoop.Add(1)
				}
				switch {
				case name == "big.test":
					ctx.SetBody(big)
				case ctx.IsPost():
					ctx.SetBodyString(name + " got " + strconv.Itoa(len(ctx.PostBody())))
				default:
					ctx.SetBodyString(name + " " + string(ctx.Path()))
				}
			}
		}
	}
	cfg.HostConfigs = map[string]*HostConfig{
		"in.test":  {Inline: true, Middleware: []MiddlewareFunc{answer("in.test")}},
		"big.test": {Inline: true, Middleware: []MiddlewareFunc{answer("big.test")}},
		"go.test":  {Middleware: []MiddlewareFunc{answer("go.test")}},
	}
	_, ls.addr = start(t, ls.sm, cfg, nil)
	return ls
}

// wantServed checks how many requests were served on the loop and off it
// so far; why says what the numbers show.
func (ls *loopServer) wantServed(t *testing.T, on, off int64, why string) {
	t.Helper()
	if gotOn, gotOff := ls.onLoop.Load(), ls.offLoop.Load(); gotOn != on || gotOff != off {
		if why != "" {
			why = ": " + why
		}
		t.Fatalf("on the loop %d, off it %d; want %d and %d%s", gotOn, gotOff, on, off, why)
	}
}

// ask sends req on c and returns the body of its 200 answer.
func ask(t *testing.T, c net.Conn, br *bufio.Reader, req, what string) string {
	t.Helper()
	send(t, c, req)
	return string(read200(t, br, what))
}

// loop is the event loop of ls's listener.
func (ls *loopServer) loop(t *testing.T) *eventLoop {
	t.Helper()
	m := ls.sm.(*serverManager)
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.bindings[ls.addr]
	if b == nil || b.loop == nil {
		t.Fatalf("no event loop on %s", ls.addr)
	}
	return b.loop
}

func (ls *loopServer) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	return dialConn(t, ls.addr)
}

// dialConn connects to addr with a 10 s deadline, closed at the test's end.
func dialConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// readHead reads a 200 response's status line and headers, and returns the headers.
func readHead(t *testing.T, br *bufio.Reader, what string) string {
	t.Helper()
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("%s: %q, %v", what, line, err)
	}
	return readHeaders(t, br)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// One keep-alive connection: inline requests are answered on the loop; a
// request for a host that is not inline, or with a body, moves the
// connection to a goroutine, which answers everything after it.
func TestLoopServesInlineHosts(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{}, 0)
	c, br := ls.dial(t)
	for i := range 3 {
		send(t, c, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: in.test\r\n\r\n", i))
		if got, want := string(read200(t, br, "inline GET")), fmt.Sprintf("in.test /%d", i); got != want {
			t.Fatalf("inline GET: body %q, want %q", got, want)
		}
	}
	// A HEAD answer has the head alone: were a body sent, the next
	// response would not begin where the head ends.
	send(t, c, "HEAD /h HTTP/1.1\r\nHost: in.test\r\n\r\nGET /after-head HTTP/1.1\r\nHost: in.test\r\n\r\n")
	if h := readHead(t, br, "inline HEAD"); !strings.Contains(h, "Content-Length: 10\r\n") { // "in.test /h"
		t.Fatalf("HEAD answered with %q, want the Content-Length of its GET", h)
	}
	if got := string(read200(t, br, "GET after HEAD")); got != "in.test /after-head" {
		t.Fatalf("GET after HEAD: body %q", got)
	}
	if got, want := ls.onLoop.Load(), int64(5); got != want {
		t.Fatalf("%d requests served on the loop, want %d", got, want)
	}

	if got := ask(t, c, br, "GET /x HTTP/1.1\r\nHost: go.test\r\n\r\n", "GET of a host that is not inline"); got != "go.test /x" {
		t.Fatalf("body %q", got)
	}
	if got := ask(t, c, br, "GET /y HTTP/1.1\r\nHost: in.test\r\n\r\n", "inline GET after the hand-on"); got != "in.test /y" {
		t.Fatalf("body %q", got)
	}
	ls.wantServed(t, 5, 2, "")

	c2, br2 := ls.dial(t)
	if got := ask(t, c2, br2, "POST /p HTTP/1.1\r\nHost: in.test\r\nContent-Length: 5\r\n\r\nhello", "inline POST with a body"); got != "in.test got 5" {
		t.Fatalf("POST body %q", got)
	}
	if off := ls.offLoop.Load(); off != 3 {
		t.Fatalf("a request with a body was served on the loop")
	}
}

// A request that says Connection: close is answered on the loop, with
// Connection: close, and the connection then closes.
func TestLoopConnectionClose(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{}, 0)
	c, br := ls.dial(t)
	send(t, c, "GET /bye HTTP/1.1\r\nHost: in.test\r\nConnection: close\r\n\r\n")
	if h := readHead(t, br, "GET with Connection: close"); !strings.Contains(h, "Connection: close\r\n") {
		t.Fatalf("response head %q, want Connection: close", h)
	}
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "in.test /bye" {
		t.Fatalf("after the head: %q, %v; want the body, then the end", rest, err)
	}
	if on := ls.onLoop.Load(); on != 1 {
		t.Fatalf("on the loop %d, want 1", on)
	}
}

// An inline handler that hijacks breaks its promise: the loop answers what
// it wrote and ends the connection, and goes on serving the others.
func TestLoopInlineHijack(t *testing.T) {
	sm := quietManager(t)
	hijacker := func(fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyString("hijacked")
			ctx.Hijack(func(net.Conn) { t.Error("the hijack handler ran on the loop") })
		}
	}
	_, addr := start(t, sm, ServerConfig{HostConfigs: map[string]*HostConfig{
		"hj.test": {Inline: true, Middleware: []MiddlewareFunc{hijacker}},
	}}, nil)
	c, br := dialConn(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: hj.test\r\n\r\n")
	if h := readHead(t, br, "hijacking inline handler"); !strings.Contains(h, "Connection: close\r\n") {
		t.Fatalf("head %q, want Connection: close", h)
	}
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "hijacked" {
		t.Fatalf("after the head: %q, %v", rest, err)
	}
	c2, br2 := dialConn(t, addr)
	send(t, c2, "GET / HTTP/1.1\r\nHost: hj.test\r\n\r\n")
	readHead(t, br2, "the next connection")
}

// Over IPv6 the loop serves as over IPv4, and the handler sees the
// client's address (which per-client rate limits key on).
func TestLoopIPv6(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	sm := quietManager(t)
	remote := make(chan string, 1)
	answer := func(fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if _, ok := ctx.Conn().(*loopConn); !ok {
				t.Error("served off the loop")
			}
			remote <- ctx.RemoteIP().String()
			ctx.SetBodyString("six")
		}
	}
	s := sm.NewServer(ServerConfig{Addr: "[::1]:0", HostConfigs: map[string]*HostConfig{
		"v6.test": {Inline: true, Middleware: []MiddlewareFunc{answer}},
	}})
	if err := sm.StartAll(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, s.Addr(), "v6.test", "/"); code != 200 || body != "six" {
		t.Fatalf("GET = %d %q", code, body)
	}
	if got := <-remote; got != "::1" {
		t.Fatalf("RemoteIP = %s, want ::1", got)
	}
}

// Pipelined requests are answered in order, on the loop, and a request cut
// in two by the client is handed on with its first part and answered.
func TestLoopPipelined(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{}, 0)
	c, br := ls.dial(t)
	var reqs strings.Builder
	const n = 40
	for i := range n {
		fmt.Fprintf(&reqs, "GET /%d HTTP/1.1\r\nHost: in.test\r\n\r\n", i)
	}
	reqs.WriteString("GET /last HTTP/1.1\r\nHo")
	send(t, c, reqs.String())
	for i := range n {
		if got, want := string(read200(t, br, "pipelined "+strconv.Itoa(i))), "in.test /"+strconv.Itoa(i); got != want {
			t.Fatalf("response %d: %q, want %q", i, got, want)
		}
	}
	if got := ask(t, c, br, "st: in.test\r\n\r\n", "the split request"); got != "in.test /last" {
		t.Fatalf("split request: %q", got)
	}
	if on := ls.onLoop.Load(); on != n+1 {
		t.Errorf("%d of %d requests served on the loop, the split one included", on, n+1)
	}
	if h := ls.loop(t).handed.Load(); h != 0 {
		t.Errorf("%d connections handed on, want 0", h)
	}
}

// Many pipelined requests for large answers, sent before the client
// reads any: the loop writes its answers a bounded amount at a time
// (writeOut), hands the connection on when the socket is full, and every
// answer arrives, in order.
func TestLoopPipelinedLargeAnswers(t *testing.T) {
	const size = 16 << 10
	ls := newLoopServer(t, ServerConfig{}, size)
	c, br := ls.dial(t)
	var reqs strings.Builder
	const n = 150 // more than one 8 KiB read: 150 × 16 KiB of answers
	for i := range n {
		fmt.Fprintf(&reqs, "GET / HTTP/1.1\r\nHost: big.test\r\n\r\nGET /%d HTTP/1.1\r\nHost: in.test\r\n\r\n", i)
	}
	send(t, c, reqs.String()) // all of it before reading any answer
	for i := range n {
		if body := read200(t, br, "big "+strconv.Itoa(i)); len(body) != size {
			t.Fatalf("answer %d: %d bytes, want %d", 2*i, len(body), size)
		}
		if got, want := string(read200(t, br, "small "+strconv.Itoa(i))), "in.test /"+strconv.Itoa(i); got != want {
			t.Fatalf("answer %d: %q, want %q", 2*i+1, got, want)
		}
	}
	if got := ask(t, c, br, "GET /after HTTP/1.1\r\nHost: in.test\r\n\r\n", "after them"); got != "in.test /after" {
		t.Fatalf("after the pipelined requests: %q", got)
	}
	if on, off := ls.onLoop.Load(), ls.offLoop.Load(); on+off != 2*n+1 {
		t.Errorf("%d on the loop and %d off it, want %d in all", on, off, 2*n+1)
	}
}

// A stray CRLF after a request (some clients send one after a body) is
// skipped on the loop, as fasthttp skips it: the connection stays there.
func TestLoopStrayCRLF(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{}, 0)
	c, br := ls.dial(t)
	if got := ask(t, c, br, "GET /a HTTP/1.1\r\nHost: in.test\r\n\r\n\r\n", "the first request"); got != "in.test /a" {
		t.Fatalf("first request: %q", got)
	}
	if got := ask(t, c, br, "GET /b HTTP/1.1\r\nHost: in.test\r\n\r\n", "after the CRLF"); got != "in.test /b" {
		t.Fatalf("after the stray CRLF: %q", got)
	}
	ls.wantServed(t, 2, 0, "both on the loop")
	if h := ls.loop(t).handed.Load(); h != 0 {
		t.Errorf("%d connections handed on, want 0", h)
	}
}

// A head that stops halfway waits on the loop, and the loop closes its
// connection ReadTimeout after its first bytes, without handing it on.
func TestLoopStalledHead(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	ls := newLoopServer(t, ServerConfig{ReadTimeout: readTimeout, IdleTimeout: 10 * time.Second}, 0)
	c, br := ls.dial(t)
	send(t, c, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\nGET /second HTTP/1.1\r\nHo")
	read200(t, br, "the first request")
	if took := closedAfter(t, br, "the stalled head"); took < readTimeout*2/3 || took > 5*time.Second {
		t.Errorf("stalled head cut off after %s, want about ReadTimeout %s", took, readTimeout)
	}
	if h := ls.loop(t).handed.Load(); h != 0 {
		t.Errorf("%d connections handed on, want 0", h)
	}
}

// ReadTimeout counts from a request's first bytes however it is served: a
// head that trickles in on the loop and is then handed on (it has a
// body) keeps its deadline on the goroutine, rather than getting a second
// ReadTimeout there.
func TestLoopHandOnKeepsReadTimeout(t *testing.T) {
	const readTimeout = 2 * time.Second
	ls := newLoopServer(t, ServerConfig{ReadTimeout: readTimeout, IdleTimeout: 10 * time.Second}, 0)
	c, br := ls.dial(t)
	begin := time.Now()
	send(t, c, "POST /upload HTTP/1.1\r\nHost: in.test\r\n")
	time.Sleep(readTimeout * 3 / 4) // a slow client: the head waits on the loop
	send(t, c, "Content-Length: 10\r\n\r\nab")
	closedAfter(t, br, "the slow request")
	// Handed on with a fresh ReadTimeout it would last until 1.75 of one.
	if took := time.Since(begin); took < readTimeout*2/3 || took > readTimeout*3/2 {
		t.Errorf("cut off %s after its first bytes, want about ReadTimeout %s", took.Round(time.Millisecond), readTimeout)
	}
	if h := ls.loop(t).handed.Load(); h != 1 {
		t.Errorf("%d connections handed on, want 1", h)
	}
}

// A response too big for the socket's buffer (32 MiB, where loopback
// buffers take a few) is finished by a goroutine; the connection then goes
// on serving there.
func TestLoopFullSocketBuffer(t *testing.T) {
	const size = 32 << 20
	ls := newLoopServer(t, ServerConfig{}, size)
	c, br := ls.dial(t)
	send(t, c, "GET / HTTP/1.1\r\nHost: big.test\r\n\r\n")
	body := read200(t, br, "big response")
	if len(body) != size || bytes.IndexFunc(body, func(r rune) bool { return r != 'b' }) >= 0 {
		t.Fatalf("big response: %d bytes, want %d of 'b'", len(body), size)
	}
	if got := ask(t, c, br, "GET /after HTTP/1.1\r\nHost: in.test\r\n\r\n", "after the big response"); got != "in.test /after" {
		t.Fatalf("body %q", got)
	}
	ls.wantServed(t, 1, 1, "the connection handed on with the rest of the big response")

	// The same with Connection: close: all of it, then the end.
	c2, br2 := ls.dial(t)
	send(t, c2, "GET / HTTP/1.1\r\nHost: big.test\r\nConnection: close\r\n\r\n")
	readHead(t, br2, "big response with Connection: close")
	rest, err := io.ReadAll(br2)
	if err != nil || len(rest) != size {
		t.Fatalf("big response with Connection: close: %d bytes then %v, want %d then the end", len(rest), err, size)
	}
}

// Shutdown closes the idle connections on the loop at once; Drain answers
// the next request on each with Connection: close.
func TestLoopShutdownAndDrain(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{}, 0)
	idle, idleBr := ls.dial(t)
	send(t, idle, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\n")
	read200(t, idleBr, "before the drain")
	busy, busyBr := ls.dial(t)
	send(t, busy, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\n")
	read200(t, busyBr, "before the drain")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- ls.sm.Drain(ctx, 0) }() // returns by ctx's deadline at the latest
	waitFor(t, "the drain to begin", 5*time.Second, func() bool {
		ls.sm.(*serverManager).mu.Lock()
		defer ls.sm.(*serverManager).mu.Unlock()
		for _, b := range ls.sm.(*serverManager).bindings {
			if !b.draining.Load() {
				return false
			}
		}
		return true
	})
	send(t, busy, "GET /last HTTP/1.1\r\nHost: in.test\r\n\r\n")
	if h := readHead(t, busyBr, "request during the drain"); !strings.Contains(h, "Connection: close\r\n") {
		t.Error("a response during the drain did not say Connection: close")
	}
	closedAfter(t, busyBr, "the busy connection")
	closedAfter(t, idleBr, "the idle connection")
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return")
	}
}

// With the loop off, every connection is served on its own goroutine.
func TestLoopDisabled(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{DisableEventLoop: true}, 0)
	c, br := ls.dial(t)
	send(t, c, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\n")
	read200(t, br, "GET")
	ls.wantServed(t, 0, 1, "")
}

// A reload that makes a host inline moves its requests onto the loop for
// new connections; one that makes it not inline hands them on.
func TestLoopFollowsReload(t *testing.T) {
	ls := newLoopServer(t, ServerConfig{}, 0)
	sm := ls.sm.(*serverManager)
	setInline := func(v bool) {
		sm.mu.Lock()
		for _, b := range sm.bindings {
			for _, s := range b.members {
				s.cfg.HostConfigs["in.test"].Inline = v
			}
			sm.rebuildBindingLocked(b)
		}
		sm.mu.Unlock()
	}
	c, br := ls.dial(t)
	send(t, c, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\n")
	read200(t, br, "GET")
	setInline(false)
	send(t, c, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\n")
	read200(t, br, "GET after the reload")
	ls.wantServed(t, 1, 1, "")
	// With no host inline the fasthttp server accepts by itself; the
	// Accept it is blocked in when a host becomes inline again may still
	// take one connection, and the loop takes the ones after it.
	setInline(true)
	for i := range 2 {
		c, br := ls.dial(t)
		send(t, c, "GET / HTTP/1.1\r\nHost: in.test\r\n\r\n")
		read200(t, br, "GET on new connection "+strconv.Itoa(i))
	}
	if on, off := ls.onLoop.Load(), ls.offLoop.Load(); on < 2 || on+off != 4 {
		t.Fatalf("on the loop %d, off it %d; want the last new connection's request on it", on, off)
	}
}

// A listener with no inline host is accepted from by fasthttp itself: its
// connections never pass through the loop.
func TestLoopIdleWithoutInlineHosts(t *testing.T) {
	sm := quietManager(t)
	var direct, handed atomic.Int64
	r := NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) {
		if sc := serverConnOf(ctx.Conn()); sc != nil {
			if _, ok := sc.Conn.(*handedConn); ok {
				handed.Add(1)
			} else {
				direct.Add(1)
			}
		}
		ctx.SetBodyString("ok")
	})
	_, addr := start(t, sm, ServerConfig{}, r)
	for range 3 {
		if code, body := get(t, addr, "a", "/"); code != 200 || body != "ok" {
			t.Fatalf("GET = %d %q", code, body)
		}
	}
	if d, h := direct.Load(), handed.Load(); d != 3 || h != 0 {
		t.Fatalf("%d connections accepted by fasthttp, %d handed on by the loop; want 3 and 0", d, h)
	}
}

func TestHeaderEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /", 27},
		{"GET / HTTP/1.1\nHost: a\n\n", 24},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", 26},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", 26},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"", -1},
	}
	for _, tt := range tests {
		if got := headerEnd([]byte(tt.in)); got != tt.want {
			t.Errorf("headerEnd(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// A head not all come waits on the loop only while its request line can
// still be an HTTP/1.1 one.
func TestRequestLineDone(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n", false},
		{"GET / HTTP/1.1\nHost:", false},
		{"GET / HTT", false},
		{"", false},
		{"GET /\r\n", true},
		{"GET /\n", true},
		{"GET / HTTP/1.0\r\nHost: a\r\n", true},
		{"\r\nGET / HTTP/1.1\r\n", false},
		{"\r\n", false},
		{"\r\nGET /\r\n", true},
	}
	for _, tt := range tests {
		if got := requestLineDone([]byte(tt.in)); got != tt.want {
			t.Errorf("requestLineDone(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestLoopCanServe(t *testing.T) {
	tests := []struct {
		head string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET /a?b=c HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
		{"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"GET //a HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", false},
	}
	for _, tt := range tests {
		var req fasthttp.Request
		if err := req.Header.Read(bufio.NewReader(strings.NewReader(tt.head))); err != nil {
			t.Fatalf("%q: %v", tt.head, err)
		}
		if got := loopCanServe(&req); got != tt.want {
			t.Errorf("loopCanServe(%q) = %v, want %v", tt.head, got, tt.want)
		}
	}
}

func TestSweepInterval(t *testing.T) {
	tests := []struct {
		read, idle, want time.Duration
	}{
		{0, 0, time.Second},
		{30 * time.Second, 60 * time.Second, time.Second},
		{2 * time.Second, 60 * time.Second, 200 * time.Millisecond},
		{0, 300 * time.Millisecond, 30 * time.Millisecond},
		{time.Millisecond, time.Millisecond, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := sweepInterval(tt.read, tt.idle); got != tt.want {
			t.Errorf("sweepInterval(%s, %s) = %s, want %s", tt.read, tt.idle, got, tt.want)
		}
	}
}

// What the loop serves it parses as fasthttp's server would: for any bytes
// whose head the loop accepts, fasthttp's own reading of the whole request
// agrees on its length, method, target and host, and finds no body.
func FuzzLoopRequestHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET /x?y HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nxyz"))
	f.Add([]byte("HEAD /a HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: identity\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		end := headerEnd(in)
		if end < 0 {
			return
		}
		var head fasthttp.Request
		br := bufio.NewReader(bytes.NewReader(in[:end]))
		if head.Header.Read(br) != nil || br.Buffered() != 0 || !loopCanServe(&head) {
			return
		}
		var whole fasthttp.Request
		rd := bytes.NewReader(in)
		wbr := bufio.NewReader(rd)
		if err := whole.Read(wbr); err != nil {
			t.Fatalf("the loop accepts %q, fasthttp refuses it: %v", in, err)
		}
		if used := len(in) - wbr.Buffered() - rd.Len(); used != end {
			t.Fatalf("%q: the loop takes %d bytes, fasthttp %d", in, end, used)
		}
		if len(whole.Body()) != 0 {
			t.Fatalf("%q: fasthttp reads a body %q", in, whole.Body())
		}
		if !bytes.Equal(whole.Header.Method(), head.Header.Method()) ||
			!bytes.Equal(whole.Header.RequestURI(), head.Header.RequestURI()) ||
			!bytes.Equal(whole.Header.Host(), head.Header.Host()) {
			t.Fatalf("%q: the loop and fasthttp read different heads", in)
		}
	})
}
