package worker

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// phasedPair is tcpPair with the server end a serverConn whose phase
// timeouts run with g.
func phasedPair(t *testing.T, g *connGroup) (*serverConn, net.Conn) {
	lc, client := tcpPair(t)
	sc := &serverConn{lazyDeadlineConn: lazyDeadlineConn{Conn: lc.Conn}}
	sc.startPhases(g)
	t.Cleanup(func() { sc.Close() })
	return sc, client
}

// handlerEnds does what a handler's end does on c: reqClock.took.
func handlerEnds(c *serverConn) time.Duration {
	return reqClock{start: c.g.at(c.readStart), sc: c}.took()
}

// testGroup is a connGroup with ReadTimeout 10 s, WriteTimeout 20 s and
// IdleTimeout 30 s.
func testGroup() *connGroup {
	return &connGroup{read: 10 * time.Second, write: 20 * time.Second, idle: 30 * time.Second, base: time.Now()}
}

// deadlines returns c's read and write deadlines as durations from now
// (rounded to 100 ms), or -1 for none.
func deadlines(c *serverConn) (read, write time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := func(t time.Time) time.Duration {
		if t.IsZero() {
			return -1
		}
		return time.Until(t).Round(100 * time.Millisecond)
	}
	return in(c.rd), in(c.wd)
}

// The deadlines follow a keep-alive exchange: ReadTimeout from the start
// for the first request, WriteTimeout for each response from its
// handler's end, IdleTimeout while waiting for the next request,
// ReadTimeout again from its first bytes.
func TestConnPhaseDeadlines(t *testing.T) {
	g := testGroup()
	c, client := phasedPair(t, g)
	check := func(step string, wantRead, wantWrite time.Duration) {
		t.Helper()
		if r, w := deadlines(c); r != wantRead || w != wantWrite {
			t.Errorf("%s: read, write deadlines in %s, %s; want %s, %s", step, r, w, wantRead, wantWrite)
		}
	}
	request, response := "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"
	buf := make([]byte, 64)
	check("new", 10*time.Second, -1)
	if _, err := io.WriteString(client, request); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	check("first request read", 10*time.Second, -1)
	handlerEnds(c)
	check("handler ended", 10*time.Second, 20*time.Second)
	if _, err := io.WriteString(c, response); err != nil {
		t.Fatal(err)
	}
	check("response written", 10*time.Second, 20*time.Second)
	if _, err := io.ReadFull(client, make([]byte, len(response))); err != nil {
		t.Fatal(err)
	}

	// The next Read waits for the next request under IdleTimeout.
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(buf)
		read <- err
	}()
	waitFor(t, "the idle deadline", 5*time.Second, func() bool {
		r, _ := deadlines(c)
		return r == 30*time.Second
	})
	if _, err := io.WriteString(client, request); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	check("second request read", 10*time.Second, 20*time.Second)
	if c.phase != phaseRead || time.Since(g.at(c.readStart)) > time.Second {
		t.Errorf("phase %d, request start %s ago; want phaseRead, just now", c.phase, time.Since(g.at(c.readStart)))
	}
}

// A write deadline the handler set (RequestCtx.SetWriteDeadline) holds for
// its response instead of WriteTimeout, and only for that one.
func TestConnOwnWriteDeadline(t *testing.T) {
	g := testGroup()
	c, client := phasedPair(t, g)
	discardFrom(t, client)
	exchange := func(ownDeadline bool) time.Duration {
		t.Helper()
		if _, err := io.WriteString(client, "q"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if ownDeadline {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		}
		handlerEnds(c)
		if _, err := c.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		_, w := deadlines(c)
		return w
	}
	if w := exchange(true); w != 5*time.Second {
		t.Errorf("with the handler's own write deadline: %s, want 5s", w)
	}
	if w := exchange(false); w != 20*time.Second {
		t.Errorf("next response: write deadline in %s, want WriteTimeout 20s", w)
	}
}

// stopPhases clears the deadlines and leaves them to the connection's
// owner: reads and writes change nothing any more.
func TestConnStopPhases(t *testing.T) {
	g := testGroup()
	c, client := phasedPair(t, g)
	c.stopPhases()
	if r, w := deadlines(c); r != -1 || w != -1 {
		t.Errorf("after stopPhases: deadlines %s, %s; want none", r, w)
	}
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(client, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if r, w := deadlines(c); r != -1 || w != -1 {
		t.Errorf("I/O after stopPhases set deadlines %s, %s", r, w)
	}
}

// A keep-alive exchange through the phases allocates nothing.
func TestConnPhasesAllocateNothing(t *testing.T) {
	g := newConnGroup(ServerConfig{}.withDefaults())
	c, client := phasedPair(t, g)
	req, resp := []byte("ping"), []byte("pong")
	buf := make([]byte, 4)
	allocs := testing.AllocsPerRun(200, func() {
		_, _ = client.Write(req)
		_, _ = io.ReadFull(c, buf)
		_, _ = c.Write(resp)
		_, _ = io.ReadFull(client, buf)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per exchange, want 0", allocs)
	}
}

// With the real server: a keep-alive connection is closed after
// IdleTimeout, not ReadTimeout; a request begun after a wait longer than
// ReadTimeout is still served; one that stalls is cut off at ReadTimeout
// from its first byte.
func TestServerPhaseTimeouts(t *testing.T) {
	const readTimeout, idleTimeout = 400 * time.Millisecond, 1500 * time.Millisecond
	addr := badInputServer(t, ServerConfig{ReadTimeout: readTimeout, IdleTimeout: idleTimeout})
	checkPhaseTimeouts(t, readTimeout, idleTimeout, func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
	stillServes(t, addr, "the phase timeouts")
}

// checkPhaseTimeouts checks the idle and read timeouts on connections
// from dial: one request,
// then an idle wait until the server closes; one request, a wait longer
// than ReadTimeout, a request that is served, and a request that stalls
// after its first bytes.
func checkPhaseTimeouts(t *testing.T, readTimeout, idleTimeout time.Duration, dial func() net.Conn) {
	t.Helper()
	const request = "GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n"
	keepAlive := func() (net.Conn, *bufio.Reader) {
		c := dial()
		t.Cleanup(func() { c.Close() })
		br := bufio.NewReader(c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		read200(t, br, "first request")
		if br.Buffered() > 0 {
			t.Fatalf("%d bytes more than one response", br.Buffered())
		}
		return c, br
	}

	_, br := keepAlive()
	if took := closedAfter(t, br, "idle connection"); took < idleTimeout*2/3 || took > idleTimeout+3*time.Second {
		t.Errorf("idle connection closed after %s, want about IdleTimeout %s", took, idleTimeout)
	}

	c, br := keepAlive()
	time.Sleep(2 * readTimeout) // idle longer than ReadTimeout, well within IdleTimeout
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	read200(t, br, "a request after a wait longer than ReadTimeout")
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: ok"); err != nil {
		t.Fatal(err)
	}
	if took := closedAfter(t, br, "stalled request"); took < readTimeout*2/3 || took > idleTimeout {
		t.Errorf("stalled request cut off after %s, want about ReadTimeout %s", took, readTimeout)
	}
}

// drainResponse reads the rest of a response whose status line was read:
// its headers, then Content-Length bytes, which it returns.
func drainResponse(t *testing.T, br *bufio.Reader) []byte {
	t.Helper()
	n := 0
	for _, line := range strings.SplitAfter(readHeaders(t, br), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return body
}

// readHeaders reads a response's header lines, after its status line,
// through the blank line, and returns them.
func readHeaders(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var h strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			return h.String()
		}
		h.WriteString(line)
	}
}

// read200 reads one response and fails the test unless it is a 200; it
// returns the body.
func read200(t *testing.T, br *bufio.Reader, what string) []byte {
	t.Helper()
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("%s: %q, %v", what, line, err)
	}
	return drainResponse(t, br)
}

// closedAfter reads r until the server closes the connection and returns
// how long that took; it fails the test if the connection is still open
// at the client's own deadline.
func closedAfter(t *testing.T, r io.Reader, what string) time.Duration {
	t.Helper()
	begin := time.Now()
	if _, err := io.ReadAll(r); err != nil && !isReset(err) {
		t.Fatalf("%s still open after %s: %v", what, time.Since(begin), err)
	}
	return time.Since(begin)
}

// A hijacked connection is the hijacker's: the phase timeouts no longer
// apply, so a tunnel quiet for longer than every timeout stays open.
func TestHijackedConnHasNoTimeouts(t *testing.T) {
	const d = 200 * time.Millisecond
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/echo", func(ctx *fasthttp.RequestCtx) {
		ctx.Hijack(func(c net.Conn) { _, _ = io.Copy(c, c) })
		ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	})
	_, addr := start(t, sm, ServerConfig{ReadTimeout: d, WriteTimeout: d, IdleTimeout: d}, r)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("hijack: %q, %v", line, err)
	}
	drainResponse(t, br) // its headers; a 101 has no body
	time.Sleep(4 * d)    // quiet for longer than every timeout
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo after a quiet %s: %q, %v", 4*d, got, err)
	}
}

// Writes move no phase and set no deadline: under TLS another goroutine
// writes too (tls.Conn.Close's close_notify), so only the serving
// goroutine's own steps may. Run with -race: a Write in another goroutine
// during every step of an exchange.
func TestConnForeignWrites(t *testing.T) {
	g := testGroup()
	c, client := phasedPair(t, g)
	discardFrom(t, client)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = c.Write([]byte("x"))
			_ = c.SetWriteDeadline(time.Now().Add(time.Hour)) // as closeNotify does
			time.Sleep(100 * time.Microsecond)
		}
	})
	defer wg.Wait()
	defer close(stop)
	for range 50 {
		if _, err := io.WriteString(client, "q"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if c.phase != phaseRead {
			t.Fatalf("phase %d after a request's bytes, want phaseRead", c.phase)
		}
		handlerEnds(c)
		if c.phase != phaseWrite {
			t.Fatalf("phase %d after the handler, want phaseWrite", c.phase)
		}
	}
}

// Over TLS the phase timeouts start after the handshake, on HTTP/1.1
// connections: the same checks as on plain TCP.
func TestTLSPhaseTimeouts(t *testing.T) {
	const readTimeout, idleTimeout = 400 * time.Millisecond, 1500 * time.Millisecond
	certFile, keyFile, pool := devPair(t)
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{ReadTimeout: readTimeout, IdleTimeout: idleTimeout})
	r := NewRouter()
	r.GET("/", text("ok"))
	s.SetRouter(r)
	addr := listenTLS(t, s, certFile, keyFile)
	checkPhaseTimeouts(t, readTimeout, idleTimeout, func() net.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// discardFrom reads and drops what arrives on c until the test ends, then
// closes c and waits for the reader.
func discardFrom(t *testing.T, c net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
	t.Cleanup(func() {
		c.Close()
		wg.Wait()
	})
}

// pipelinedPair is a phasedPair whose server end has read two requests
// sent together; what it writes is discarded.
func pipelinedPair(t *testing.T, g *connGroup) *serverConn {
	c, client := phasedPair(t, g)
	discardFrom(t, client)
	if _, err := io.WriteString(client, "q1q2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	return c
}

// Pipelined requests come from the buffer with no Read between them;
// each after the first still starts with a ReadTimeout of its own, and
// each response gets a WriteTimeout from its own handler's end.
func TestConnPipelinedDeadlines(t *testing.T) {
	g := testGroup()
	c := pipelinedPair(t, g)
	var ctx fasthttp.RequestCtx
	ctx.Init2(c, nil, false)
	var lastWrite time.Time
	for i := range 2 {
		rc := startClock(&ctx)
		c.mu.Lock()
		rd := c.rd
		c.mu.Unlock()
		if want := rc.start.Add(g.read); i > 0 && !rd.Equal(want) {
			t.Errorf("request %d: read deadline %s after its start, want ReadTimeout %s", i, rd.Sub(rc.start), g.read)
		}
		time.Sleep(5 * time.Millisecond)
		end := rc.took()
		c.mu.Lock()
		wd := c.wd
		c.mu.Unlock()
		if want := rc.start.Add(end + g.write); !wd.Equal(want) {
			t.Errorf("request %d: write deadline %s after its handler's end, want WriteTimeout %s", i, wd.Sub(rc.start.Add(end)), g.write)
		}
		if !wd.After(lastWrite) {
			t.Errorf("request %d: write deadline not after the last one's", i)
		}
		lastWrite = wd
		if _, err := c.Write([]byte("response")); err != nil {
			t.Fatal(err)
		}
	}
}

// Pipelined requests on the real server: all answered, in order, and the
// connection then idles out at IdleTimeout as usual.
func TestServerPipelinedRequests(t *testing.T) {
	const idleTimeout = 800 * time.Millisecond
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/n/:i", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("n" + ctx.UserValue("i").(string)) })
	_, addr := start(t, sm, ServerConfig{IdleTimeout: idleTimeout}, r)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var reqs strings.Builder
	const n = 50
	for i := range n {
		fmt.Fprintf(&reqs, "GET /n/%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	if _, err := io.WriteString(c, reqs.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range n {
		if body := read200(t, br, "response "+strconv.Itoa(i)); string(body) != "n"+strconv.Itoa(i) {
			t.Fatalf("response %d: body %q", i, body)
		}
	}
	if took := closedAfter(t, br, "the connection"); took < idleTimeout/2 || took > idleTimeout+3*time.Second {
		t.Errorf("closed %s after the last response, want about IdleTimeout %s", took, idleTimeout)
	}
}
