package proxy

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// Upstreams are killed and restarted under load, requests in flight on
// them included; while at least one is up, no GET fails.
func TestProxyFailoverUnderLoad(t *testing.T) {
	for _, strategy := range []string{RoundRobin, LeastConn, IPHash, RandomTwo} {
		t.Run(strategy, func(t *testing.T) {
			a, b, c := pxUpstream(t, "a"), pxUpstream(t, "b"), pxUpstream(t, "c")
			for _, u := range []*pxTestUpstream{a, b, c} {
				u.delay.Store(int64(time.Millisecond)) // so that requests are in flight when one dies
			}
			addr, p := pxFront(t, Config{
				Upstreams: []string{a.addr, b.addr, c.addr}, Strategy: strategy,
				FailTimeout: 200 * time.Millisecond, Retries: 2,
			}, worker.ServerConfig{})
			load := pxLoad(t, addr, "/", 16)
			load.waitOK(t, 200)

			a.kill()
			load.waitOK(t, 300)
			hits := a.hits.Load()
			a.restart()
			waitFor(t, "a back", 3*time.Second, func() bool {
				up, _ := p.UpstreamUp(a.addr)
				// ip_hash: every client here is 127.0.0.1, which may not hash to a.
				return up && (strategy == IPHash || a.hits.Load() > hits)
			})
			load.waitOK(t, 300)

			// Two down at once: a alone serves.
			b.kill()
			c.kill()
			load.waitOK(t, 1500) // longer than FailTimeout: the dead are tried again

			b.restart()
			c.restart()
			load.waitOK(t, 300)

			byBody, failures := load.finish()
			t.Logf("%s: %v", strategy, byBody)
			if len(failures) > 0 {
				t.Fatalf("%d failed requests, first: %s", len(failures), failures[0])
			}
			if strategy != IPHash && (byBody["a"] == 0 || byBody["b"] == 0 || byBody["c"] == 0) {
				t.Errorf("answers %v: want all three upstreams used", byBody)
			}
		})
	}
}

// An upstream that restarts leaves dead connections in the pool; the first
// request that meets one drops them all, and the upstream is not counted
// as failed for it.
func TestProxyUpstreamRestartLeavesNoDeadConnections(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, FailTimeout: time.Minute}, worker.ServerConfig{})
	a.delay.Store(int64(5 * time.Millisecond))
	pxCount(t, addr, 320, 16) // many connections to a in its pool
	a.delay.Store(0)
	a.kill()
	a.restart()
	got := pxCount(t, addr, 40, 1)
	if up, _ := p.UpstreamUp(a.addr); !up || got["a"] != 20 {
		t.Errorf("after a restarted: a up %v, answers %v; want a up with its 20 turns", up, got)
	}
}

// cutListener hands out connections of which the first one breaks after
// reading cut bytes, as an upstream that dies in the middle of a request.
type cutListener struct {
	net.Listener
	cut      int
	accepted atomic.Int32
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.accepted.Add(1) > 1 {
		return c, err
	}
	return &cutConn{Conn: c, left: l.cut}, nil
}

type cutConn struct {
	net.Conn
	left int
}

func (c *cutConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.Conn.Close()
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

// A request whose body was partly sent when its upstream connection broke
// is never sent again, not even to the same upstream on a new connection:
// the upstream would get the rest of the body as if it were all of it.
func TestProxyNoRetryOfASpentBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &cutListener{Listener: ln, cut: 20 << 10}
	var uploads []int64
	var mu sync.Mutex
	srv := &fasthttp.Server{StreamRequestBody: true, Logger: pxQuietLogger{}, Handler: func(ctx *fasthttp.RequestCtx) {
		n, err := io.Copy(io.Discard, ctx.RequestBodyStream())
		if _, cut := ctx.Conn().(*cutConn); cut || err != nil {
			return // the upstream that died: it processes nothing
		}
		mu.Lock()
		uploads = append(uploads, n)
		mu.Unlock()
		ctx.SetBodyString(strconv.FormatInt(n, 10))
	}}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(cl) })
	defer wg.Wait()
	defer srv.Shutdown()
	addr, _ := pxFront(t, Config{Upstreams: []string{ln.Addr().String()}}, worker.ServerConfig{MaxRequestSize: 8 << 20})
	for _, chunked := range []bool{true, false} {
		cl.accepted.Store(0)
		body := &pxPattern{left: 1 << 20}
		req, _ := http.NewRequest("PUT", "http://"+addr+"/upload", io.MultiReader(body))
		req.Host = "proxy.test"
		if !chunked {
			req.ContentLength = 1 << 20
		}
		// The proxy may answer 502 and close while the client still
		// sends: a reset is a failure too, which is all that is asked.
		code, b := 0, []byte(nil)
		if resp, err := pxClient(t).Do(req); err == nil {
			code = resp.StatusCode
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		mu.Lock()
		for _, n := range uploads {
			if n != 1<<20 {
				t.Errorf("chunked=%v: the upstream got a body of %d bytes, not 1 MiB", chunked, n)
			}
		}
		uploads = nil
		mu.Unlock()
		if code == 200 && string(b) != strconv.Itoa(1<<20) {
			t.Errorf("chunked=%v: 200 %q, want 502, or the whole body", chunked, b)
		}
	}
}
