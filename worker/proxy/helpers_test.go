package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// quietManager returns a manager whose logs go to the test log only on
// failure; its servers stop at cleanup.
func quietManager(t testing.TB) worker.ServerManager {
	t.Helper()
	sm := worker.NewServerManager()
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	t.Cleanup(func() { _ = sm.StopAll() })
	return sm
}

// start creates a server of sm with cfg and r on a fresh loopback port,
// starts it and returns it with its address.
func start(t testing.TB, sm worker.ServerManager, cfg worker.ServerConfig, r *worker.Router) (worker.Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s := sm.NewServer(cfg)
	s.SetRouter(r)
	if err := sm.StartAll(); err != nil {
		t.Fatal(err)
	}
	return s, s.Addr()
}

// get sends a GET with the given Host on a connection of its own and
// returns status and body.
func get(t testing.TB, addr, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s (Host %s): %v", addr, path, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// text is a handler that answers s.
func text(s string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(s) }
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// latencyCount is the number of latencies h counted.
func latencyCount(h worker.Histogram) uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// pxTestUpstream is a real upstream server on loopback that a test can kill
// (listener and every connection closed at once, as when the process
// dies) and restart on the same address.
type pxTestUpstream struct {
	t    testing.TB
	name string
	addr string

	hits       atomic.Int64 // requests other than health checks
	slowHits   atomic.Int64 // requests for /slow, counted as they begin
	healthHits atomic.Int64
	health     atomic.Int32 // status of /health; 0: 200
	delay      atomic.Int64 // nanoseconds "/" sleeps
	lastHeader atomic.Pointer[fasthttp.RequestHeader]

	mu    sync.Mutex
	srv   *fasthttp.Server
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // Serve
}

// pxUpstream starts an upstream named name on a fresh loopback port;
// it is killed at cleanup.
func pxUpstream(t testing.TB, name string) *pxTestUpstream {
	t.Helper()
	u := &pxTestUpstream{t: t, name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.serve(ln)
	t.Cleanup(u.kill)
	return u
}

func (u *pxTestUpstream) serve(ln net.Listener) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ln = ln
	u.conns = make(map[net.Conn]struct{})
	u.srv = &fasthttp.Server{
		Handler:            u.handle,
		StreamRequestBody:  true,
		MaxRequestBodySize: 64 << 10,
		CloseOnShutdown:    true,
		ConnState: func(c net.Conn, s fasthttp.ConnState) {
			u.mu.Lock()
			defer u.mu.Unlock()
			switch s {
			case fasthttp.StateNew:
				u.conns[c] = struct{}{}
			case fasthttp.StateClosed:
				delete(u.conns, c)
			}
		},
		Logger: pxQuietLogger{},
	}
	srv := u.srv
	u.wg.Go(func() { _ = srv.Serve(ln) })
}

type pxQuietLogger struct{}

func (pxQuietLogger) Printf(string, ...any) {}

// kill closes the listener and every connection at once.
func (u *pxTestUpstream) kill() {
	u.mu.Lock()
	if u.ln == nil {
		u.mu.Unlock()
		return
	}
	_ = u.ln.Close()
	u.ln = nil
	for c := range u.conns {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// restart listens again on the same address.
func (u *pxTestUpstream) restart() {
	u.t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("restart %s: %v", u.name, err)
	}
	u.serve(ln)
}

func (u *pxTestUpstream) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if path == "/health" {
		u.healthHits.Add(1)
		code := int(u.health.Load())
		if code == 0 {
			code = 200
		}
		ctx.SetStatusCode(code)
		ctx.SetBodyString("health " + u.name)
		return
	}
	u.hits.Add(1)
	if path == "/fast" { // benchmarks: nothing kept
		ctx.SetBodyString(u.name)
		return
	}
	var h fasthttp.RequestHeader
	ctx.Request.Header.CopyTo(&h)
	u.lastHeader.Store(&h)
	switch path {
	case "/big":
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
		ctx.SetBodyStream(&pxPattern{left: int64(n)}, n)
	case "/chunked":
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
		ctx.SetBodyStream(&pxPattern{left: int64(n)}, -1)
	case "/upload":
		n, err := io.Copy(io.Discard, ctx.RequestBodyStream())
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadRequest)
			return
		}
		ctx.SetBodyString(strconv.FormatInt(n, 10))
	case "/slow":
		u.slowHits.Add(1)
		d, _ := time.ParseDuration(string(ctx.QueryArgs().Peek("d")))
		time.Sleep(d)
		ctx.SetBodyString(u.name)
	case "/headers":
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("Connection", "X-Private")
		ctx.Response.Header.Set("X-Private", "secret")
		ctx.Response.Header.Set("X-Public", "yes")
		ctx.Response.Header.Set("Via", "1.1 upstream")
		ctx.SetBodyString(u.name)
	case "/ws":
		u.serveWebSocket(ctx)
	default:
		if d := u.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		ctx.SetContentType("text/plain")
		ctx.SetBodyString(u.name)
	}
}

// pxPattern yields left bytes of a repeating pattern.
type pxPattern struct{ left int64 }

func (r *pxPattern) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.left)
	for i := range p[:n] {
		p[i] = byte('a' + i%26)
	}
	r.left -= n
	return int(n), nil
}

// pxFront starts a Rockstar server whose host "proxy.test" forwards to
// a proxy made from cfg, and returns its address and the proxy.
func pxFront(t testing.TB, cfg Config, scfg worker.ServerConfig) (string, *Proxy) {
	t.Helper()
	_, addr, p := pxFrontManager(t, cfg, scfg)
	return addr, p
}

// pxFrontManager is pxFront that also returns the server's manager.
func pxFrontManager(t testing.TB, cfg Config, scfg worker.ServerConfig) (worker.ServerManager, string, *Proxy) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "proxy.test"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewUpstreamMetrics()
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	sm := quietManager(t)
	h := p.Handler()
	if err := sm.RegisterHost("proxy.test", worker.HostConfig{
		Middleware:        []worker.MiddlewareFunc{func(fasthttp.RequestHandler) fasthttp.RequestHandler { return h }},
		StreamRequestBody: true,
	}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, scfg, worker.NewRouter())
	return sm, addr, p
}

// pxClient returns an HTTP client with keep-alive connections.
func pxClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// pxFetch sends one request for proxy.test and returns status and body.
func pxFetch(c *http.Client, method, addr, path string, body io.Reader) (int, string, http.Header, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		return 0, "", nil, err
	}
	req.Host = "proxy.test"
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// pxLoadRun keeps conns clients sending GET / until stop, counting answers
// by body and every failure.
type pxLoadRun struct {
	mu       sync.Mutex
	byBody   map[string]int
	failures []string
	ok       atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func pxLoad(t testing.TB, addr, path string, conns int) *pxLoadRun {
	l := &pxLoadRun{byBody: make(map[string]int), stop: make(chan struct{})}
	for range conns {
		c := pxClient(t)
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				code, body, _, err := pxFetch(c, "GET", addr, path, nil)
				l.mu.Lock()
				switch {
				case err != nil:
					l.failures = append(l.failures, err.Error())
				case code != 200:
					l.failures = append(l.failures, fmt.Sprintf("%d %s", code, strings.TrimSpace(body)))
				default:
					l.byBody[body]++
					l.ok.Add(1)
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// finish stops the load and returns its counts.
func (l *pxLoadRun) finish() (map[string]int, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.byBody, l.failures
}

// waitOK waits until the load has n more successes.
func (l *pxLoadRun) waitOK(t testing.TB, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	waitFor(t, fmt.Sprintf("%d more answers", n), 10*time.Second, func() bool { return l.ok.Load() >= target })
}
