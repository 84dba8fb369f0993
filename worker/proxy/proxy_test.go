package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

func TestNewProxyRefusesBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want error
	}{
		{Config{}, ErrNoUpstreams},
		{Config{Upstreams: []string{"nohost"}}, ErrUpstream},
		{Config{Upstreams: []string{"127.0.0.1:0"}}, ErrUpstream},
		{Config{Upstreams: []string{"127.0.0.1:1", "127.0.0.1:1"}}, ErrUpstream},
		{Config{Upstreams: []string{"127.0.0.1:1"}, Strategy: "fastest"}, ErrStrategy},
	} {
		if _, err := New(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("New(%+v) = %v, want %v", tc.cfg, err, tc.want)
		}
	}
	p, err := New(Config{Upstreams: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if err := p.Update(Config{Upstreams: []string{"127.0.0.1:2"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Proxy with a bad config did not panic")
		}
	}()
	Handler(Config{})
}

// pxCount sends n GETs from conns clients and returns the answers by body.
func pxCount(t *testing.T, addr string, n, conns int) map[string]int {
	t.Helper()
	out := make(map[string]int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	per := n / conns
	for range conns {
		c := pxClient(t)
		wg.Go(func() {
			for range per {
				code, body, _, err := pxFetch(c, "GET", addr, "/", nil)
				mu.Lock()
				if err != nil || code != 200 {
					t.Errorf("GET: %d %q %v", code, body, err)
					mu.Unlock()
					return
				}
				out[body]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func TestProxyRoundRobinIsEven(t *testing.T) {
	a, b, c := pxUpstream(t, "a"), pxUpstream(t, "b"), pxUpstream(t, "c")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr, b.addr, c.addr}}, worker.ServerConfig{})
	const n = 3000
	got := pxCount(t, addr, n, 10)
	for _, name := range []string{"a", "b", "c"} {
		if d := got[name] - n/3; d < -n/300 || d > n/300 {
			t.Errorf("round robin: %v, want each %d within 1%%", got, n/3)
		}
	}
}

func TestProxyLeastConnAvoidsTheBusyUpstream(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, Strategy: LeastConn}, worker.ServerConfig{})
	// Equal upstreams share evenly.
	got := pxCount(t, addr, 400, 1)
	if got["a"] < 150 || got["b"] < 150 {
		t.Errorf("least_conn over equal upstreams: %v, want about even", got)
	}
	// A slow upstream holds its requests longer, so it gets fewer.
	a.delay.Store(int64(20 * time.Millisecond))
	got = pxCount(t, addr, 400, 8)
	if got["a"]*3 > got["b"] {
		t.Errorf("least_conn with a slow upstream: %v, want b at least 3x a", got)
	}
}

func TestProxyRandomTwo(t *testing.T) {
	a, b, c := pxUpstream(t, "a"), pxUpstream(t, "b"), pxUpstream(t, "c")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr, b.addr, c.addr}, Strategy: RandomTwo}, worker.ServerConfig{})
	got := pxCount(t, addr, 900, 3)
	for _, name := range []string{"a", "b", "c"} {
		if got[name] < 200 {
			t.Errorf("random_two: %v, want each near 300", got)
		}
	}
	a.delay.Store(int64(20 * time.Millisecond))
	got = pxCount(t, addr, 600, 8)
	if got["a"]*2 > got["b"] || got["a"]*2 > got["c"] {
		t.Errorf("random_two with a slow upstream: %v, want a well below the others", got)
	}
}

// pxClientFrom returns a client whose connections come from ip.
func pxClientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func TestProxyIPHashIsSticky(t *testing.T) {
	a, b, c := pxUpstream(t, "a"), pxUpstream(t, "b"), pxUpstream(t, "c")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr, c.addr}, Strategy: IPHash, MaxFails: -1}, worker.ServerConfig{})
	owner := map[string]string{}
	used := map[string]int{}
	for i := 1; i <= 30; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		cl := pxClientFrom(t, ip)
		for range 5 {
			code, body, _, err := pxFetch(cl, "GET", addr, "/", nil)
			if err != nil || code != 200 {
				t.Fatalf("GET from %s: %d %v", ip, code, err)
			}
			if prev, ok := owner[ip]; ok && prev != body {
				t.Fatalf("client %s went to %s, then to %s", ip, prev, body)
			}
			owner[ip] = body
		}
		used[owner[ip]]++
	}
	if len(used) != 3 {
		t.Errorf("30 clients over 3 upstreams: %v, want all three used", used)
	}
	// Taking one upstream out moves only its clients, and they come back.
	p.SetUpstreamUp(b.addr, false)
	for ip, was := range owner {
		_, body, _, _ := pxFetch(pxClientFrom(t, ip), "GET", addr, "/", nil)
		if (was == "b") == (body == was) || body == "b" {
			t.Errorf("b out: client %s of %s now goes to %s", ip, was, body)
		}
	}
	p.SetUpstreamUp(b.addr, true)
	for ip, was := range owner {
		if _, body, _, _ := pxFetch(pxClientFrom(t, ip), "GET", addr, "/", nil); body != was {
			t.Errorf("b back: client %s of %s now goes to %s", ip, was, body)
		}
	}
}

func TestProxyRewritesHeaders(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "GET /headers?x=1 HTTP/1.1\r\nHost: proxy.test\r\n"+
		"Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=9\r\nX-Hop: drop me\r\nTE: trailers\r\n"+
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n"+
		"X-Forwarded-Host: evil.test\r\nVia: 1.0 edge\r\nX-Keep: kept\r\nUser-Agent: test-agent\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "a" {
		t.Fatalf("GET /headers: %s %q", resp.Status, body)
	}
	h := a.lastHeader.Load()
	for k, want := range map[string]string{
		"Host":              "proxy.test",
		"X-Forwarded-For":   "10.0.0.1, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "proxy.test",
		"Via":               "1.0 edge, 1.1 rockstar",
		"X-Keep":            "kept",
		"User-Agent":        "test-agent",
	} {
		if got := string(h.Peek(k)); got != want {
			t.Errorf("upstream saw %s: %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Keep-Alive", "X-Hop", "TE", "Proxy-Authorization"} {
		if got := h.Peek(k); len(got) != 0 {
			t.Errorf("upstream saw hop-by-hop %s: %q", k, got)
		}
	}
	if h.ConnectionClose() || string(h.RequestURI()) != "/headers?x=1" {
		t.Errorf("upstream saw Connection close %v, URI %q", h.ConnectionClose(), h.RequestURI())
	}
	// And back.
	if got := resp.Header.Get("X-Public"); got != "yes" {
		t.Errorf("client saw X-Public %q, want yes", got)
	}
	for _, k := range []string{"Keep-Alive", "X-Private"} {
		if got := resp.Header.Get(k); got != "" {
			t.Errorf("client saw hop-by-hop %s: %q", k, got)
		}
	}
	if got := resp.Header.Get("Via"); got != "1.1 upstream, 1.1 rockstar" {
		t.Errorf("client saw Via %q", got)
	}
	if got := resp.Header.Get("Server"); got != "rockstar" {
		t.Errorf("client saw Server %q, want rockstar", got)
	}
	if got := resp.Header.Values("Date"); len(got) != 1 {
		t.Errorf("client saw Date %q, want one", got)
	}
}

func TestProxyAllDownAnswers502(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, FailTimeout: time.Minute}, worker.ServerConfig{})
	a.kill()
	b.kill()
	c := pxClient(t)
	code, body, _, err := pxFetch(c, "GET", addr, "/", nil)
	if err != nil || code != 502 || !strings.Contains(body, "Bad Gateway: cannot connect to any upstream of proxy.test") {
		t.Fatalf("both dead: %d %q %v, want 502 that says so", code, body, err)
	}
	// Both are marked down now: no more tries, and the body says why.
	if up, _ := p.UpstreamUp(a.addr); up {
		t.Error("a still up after a failed connect")
	}
	code, body, _, err = pxFetch(c, "GET", addr, "/", nil)
	if err != nil || code != 502 || !strings.Contains(body, "every upstream of proxy.test is down") {
		t.Fatalf("both marked down: %d %q %v", code, body, err)
	}
	// A POST that cannot connect gets the same.
	code, _, _, err = pxFetch(c, "POST", addr, "/upload", strings.NewReader("data"))
	if err != nil || code != 502 {
		t.Fatalf("POST: %d %v, want 502", code, err)
	}
}

func TestProxyTimeoutAnswers504(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}, Timeout: 300 * time.Millisecond}, worker.ServerConfig{})
	c := pxClient(t)
	start := time.Now()
	code, body, _, err := pxFetch(c, "GET", addr, "/slow?d=2s", nil)
	if err != nil || code != 504 || !strings.Contains(body, "Gateway Timeout: the upstream of proxy.test did not answer within 300ms") {
		t.Fatalf("slow upstream: %d %q %v, want 504 that says so", code, body, err)
	}
	// Not tried again on a fresh connection: one timeout, not two.
	if d := time.Since(start); d > 550*time.Millisecond {
		t.Errorf("504 after %s, want about 300ms", d)
	}
	// A fast answer on the same proxy is fine, and a single upstream is
	// never marked down by errors; a stall on a pooled connection that
	// served before times out as well.
	for range 2 {
		if code, body, _, err := pxFetch(c, "GET", addr, "/slow?d=10ms", nil); err != nil || code != 200 || body != "a" {
			t.Fatalf("fast: %d %q %v", code, body, err)
		}
		start := time.Now()
		if code, _, _, err := pxFetch(c, "GET", addr, "/slow?d=2s", nil); err != nil || code != 504 {
			t.Fatalf("slow on a reused connection: %d %v, want 504", code, err)
		}
		if d := time.Since(start); d > 550*time.Millisecond {
			t.Errorf("504 on a reused connection after %s, want about 300ms", d)
		}
	}
}

// A request whose upstream dies before answering goes to another one: a
// GET whose connection breaks, and a POST that cannot connect.
func TestProxyRetriesOnAnotherUpstream(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, MaxFails: -1}, worker.ServerConfig{})
	c := pxClient(t)
	// Warm both: pooled connections to a exist when it dies.
	pxCount(t, addr, 20, 2)
	a.kill()
	for i := range 10 {
		if code, body, _, err := pxFetch(c, "GET", addr, "/", nil); err != nil || code != 200 || body != "b" {
			t.Fatalf("GET %d with a dead: %d %q %v", i, code, body, err)
		}
		if code, body, _, err := pxFetch(c, "POST", addr, "/upload", strings.NewReader("12345")); err != nil || code != 200 || body != "5" {
			t.Fatalf("POST %d with a dead: %d %q %v", i, code, body, err)
		}
	}
	// Retries: 0 leaves the failure to the client.
	if err := p.Update(Config{Name: "proxy.test", Upstreams: []string{a.addr, b.addr}, MaxFails: -1, Retries: -1, Metrics: p.metrics}); err != nil {
		t.Fatal(err)
	}
	var bad int
	for range 10 {
		if code, _, _, _ := pxFetch(c, "GET", addr, "/", nil); code == 502 {
			bad++
		}
	}
	if bad != 5 {
		t.Errorf("without retries: %d of 10 failed, want 5 (a's turns)", bad)
	}
}

// With max_fails errors within fail_timeout an upstream leaves the rotation
// for fail_timeout, and comes back after.
func TestProxyPassiveMarkingAndRecovery(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, MaxFails: 2, FailTimeout: 300 * time.Millisecond}, worker.ServerConfig{})
	c := pxClient(t)
	a.kill()
	ua := p.pool.Load().byAddr[a.addr]
	up := func() bool { ok, _ := p.UpstreamUp(a.addr); return ok }
	get := func() {
		t.Helper()
		if code, body, _, err := pxFetch(c, "GET", addr, "/", nil); err != nil || code != 200 || body != "b" {
			t.Fatalf("GET with a dead: %d %q %v", code, body, err)
		}
	}
	// The first failure does not mark it down yet; the second does.
	for ua.failCount.Load() == 0 {
		get()
	}
	if !up() {
		t.Fatal("a marked down before max_fails errors")
	}
	for up() {
		get()
	}
	if up, _ := p.UpstreamUp(a.addr); up {
		t.Fatal("a still up after max_fails errors")
	}
	before := b.hits.Load()
	for range 10 {
		pxFetch(c, "GET", addr, "/", nil)
	}
	if b.hits.Load()-before != 10 {
		t.Errorf("while a is out, b got %d of 10", b.hits.Load()-before)
	}
	a.restart()
	waitFor(t, "a back after fail_timeout", 2*time.Second, func() bool { up, _ := p.UpstreamUp(a.addr); return up })
	got := pxCount(t, addr, 100, 1)
	if got["a"] < 40 {
		t.Errorf("after recovery: %v, want a back in turn", got)
	}
}

func TestProxyActiveHealthChecks(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{
		Upstreams: []string{a.addr, b.addr}, HealthPath: "/health", HealthInterval: 30 * time.Millisecond,
	}, worker.ServerConfig{})
	waitFor(t, "checks on both", 2*time.Second, func() bool { return a.healthHits.Load() > 1 && b.healthHits.Load() > 1 })
	a.health.Store(503)
	waitFor(t, "a out", 2*time.Second, func() bool { up, _ := p.UpstreamUp(a.addr); return !up })
	// a still answers, but gets nothing.
	got := pxCount(t, addr, 50, 1)
	if got["b"] != 50 {
		t.Errorf("with a failing its checks: %v, want all on b", got)
	}
	a.health.Store(200)
	waitFor(t, "a back", 2*time.Second, func() bool { up, _ := p.UpstreamUp(a.addr); return up })
	if got := pxCount(t, addr, 50, 1); got["a"] < 20 {
		t.Errorf("after a passed again: %v", got)
	}
	// A dead upstream fails its checks too, and is back once it passes.
	b.kill()
	waitFor(t, "b out", 2*time.Second, func() bool { up, _ := p.UpstreamUp(b.addr); return !up })
	b.restart()
	waitFor(t, "b back", 2*time.Second, func() bool { up, _ := p.UpstreamUp(b.addr); return up })
	// Close stops the checks.
	p.Close()
	n := a.healthHits.Load()
	time.Sleep(150 * time.Millisecond)
	if a.healthHits.Load() > n+1 {
		t.Errorf("checks went on after Close")
	}
}

// Health checks left to someone else (a supervisor): SetUpstreamUp steers.
func TestProxyExternalHealth(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{
		Upstreams: []string{a.addr, b.addr}, HealthPath: "/health", HealthInterval: 20 * time.Millisecond, ExternalHealth: true,
	}, worker.ServerConfig{})
	time.Sleep(100 * time.Millisecond)
	if n := a.healthHits.Load() + b.healthHits.Load(); n != 0 {
		t.Errorf("%d health checks with ExternalHealth, want none", n)
	}
	p.SetUpstreamUp(a.addr, false)
	if got := pxCount(t, addr, 20, 1); got["b"] != 20 {
		t.Errorf("a reported down: %v", got)
	}
	p.SetUpstreamUp(a.addr, true)
	if got := pxCount(t, addr, 20, 1); got["a"] != 10 {
		t.Errorf("a reported up: %v", got)
	}
}

// The proxy handler on one route of a host, beside routes of its own.
func TestProxyOnARoute(t *testing.T) {
	a := pxUpstream(t, "a")
	sm := quietManager(t)
	r := worker.NewRouter()
	app := r.Host("app.test")
	app.GET("/local", text("local"))
	app.Handle("GET", "/api/*rest", Handler(Config{Upstreams: []string{a.addr}, Metrics: NewUpstreamMetrics()}))
	_, addr := start(t, sm, worker.ServerConfig{}, r)
	if code, body := get(t, addr, "app.test", "/local"); code != 200 || body != "local" {
		t.Errorf("/local: %d %q", code, body)
	}
	if code, body := get(t, addr, "app.test", "/api/x"); code != 200 || body != "a" {
		t.Errorf("/api/x: %d %q", code, body)
	}
	if got := string(a.lastHeader.Load().RequestURI()); got != "/api/x" {
		t.Errorf("upstream saw %q", got)
	}
}

func TestProxyMetrics(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	m := NewUpstreamMetrics()
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, Metrics: m, FailTimeout: time.Minute}, worker.ServerConfig{})
	pxCount(t, addr, 10, 1)
	c := pxClient(t)
	pxFetch(c, "GET", addr, "/missing-is-fine", nil)
	b.kill()
	for range 4 {
		pxFetch(c, "GET", addr, "/", nil)
	}
	snap := m.Snapshot()
	sa, sb := snap[UpstreamKey{"proxy.test", a.addr}], snap[UpstreamKey{"proxy.test", b.addr}]
	if !sa.Listed || !sa.Up || !sb.Listed || sb.Up {
		t.Errorf("a listed %v up %v, b listed %v up %v; want a up, b down", sa.Listed, sa.Up, sb.Listed, sb.Up)
	}
	if sa.Codes[200] < 9 || sb.Codes[200] != 5 || sb.Codes[502] != 1 {
		t.Errorf("codes: a %v, b %v", sa.Codes, sb.Codes)
	}
	if n := latencyCount(sa.Latency); n != sa.Codes[200] {
		t.Errorf("a: %d in the latency histogram, want %d", n, sa.Codes[200])
	}
	// A closed proxy's upstreams are no longer listed, but keep their counts.
	p.Close()
	snap = m.Snapshot()
	if s := snap[UpstreamKey{"proxy.test", a.addr}]; s.Listed || s.Codes[200] != sa.Codes[200] {
		t.Errorf("after Close: %+v", s)
	}
}

// Update changes the upstreams while requests run: none fails, the
// requests in flight on a removed upstream finish, and the new list is used.
func TestProxyUpdateUnderLoad(t *testing.T) {
	a, b, c := pxUpstream(t, "a"), pxUpstream(t, "b"), pxUpstream(t, "c")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}}, worker.ServerConfig{})
	a.delay.Store(int64(5 * time.Millisecond))
	load := pxLoad(t, addr, "/", 8)
	load.waitOK(t, 100)
	// Slow requests in flight, one at least on a, when a is removed.
	slow := make(chan string, 64)
	sent := 0
	for a.slowHits.Load() == 0 {
		if sent == cap(slow) {
			t.Fatal("no slow request reached a")
		}
		sent++
		go func() {
			code, body, _, err := pxFetch(pxClient(t), "GET", addr, "/slow?d=500ms", nil)
			if err != nil || code != 200 {
				body = fmt.Sprintf("failed: %d %v", code, err)
			}
			slow <- body
		}()
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Update(Config{Name: "proxy.test", Upstreams: []string{b.addr, c.addr}, Metrics: p.metrics}); err != nil {
		t.Fatal(err)
	}
	onA := 0
	for range sent {
		switch got := <-slow; got {
		case "a":
			onA++
		case "b":
		default:
			t.Errorf("slow request during the update: %s", got)
		}
	}
	if onA == 0 {
		t.Error("the slow request on a did not finish there")
	}
	load.waitOK(t, 200)
	aHits := a.hits.Load()
	load.waitOK(t, 200)
	byBody, failures := load.finish()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}
	if byBody["c"] == 0 || a.hits.Load() != aHits {
		t.Errorf("after the update: %v; a got %d more", byBody, a.hits.Load()-aHits)
	}
	ua := p.pool.Load().byAddr[a.addr]
	if ua != nil {
		t.Error("a still in the pool")
	}
}

// The proxy's body limit: a streamed chunked upload over the server's
// MaxRequestSize is refused with 413.
func TestProxyChunkedUploadOverTheLimit(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{MaxRequestSize: 64 << 10})
	c := pxClient(t)
	code, _, _, err := pxFetch(c, "PUT", addr, "/upload", io.MultiReader(strings.NewReader(strings.Repeat("x", 100<<10))))
	if err == nil && code != 413 {
		t.Errorf("chunked upload of 100 KB over a 64 KB limit: %d, want 413", code)
	}
	code, body, _, err := pxFetch(c, "PUT", addr, "/upload", io.MultiReader(strings.NewReader(strings.Repeat("x", 60<<10))))
	if err != nil || code != 200 || body != "61440" {
		t.Errorf("chunked upload within the limit: %d %q %v", code, body, err)
	}
	var _ = fasthttp.StatusOK
}

// HEAD gets the upstream's headers, its Content-Length included, and no body.
func TestProxyHead(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	req, _ := http.NewRequest("HEAD", "http://"+addr+"/big?n=12345", nil)
	req.Host = "proxy.test"
	c := pxClient(t)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 12345 {
		t.Errorf("HEAD: %s, Content-Length %d, want 200 and 12345", resp.Status, resp.ContentLength)
	}
	// The connection is still good for a GET.
	if code, body, _, err := pxFetch(c, "GET", addr, "/", nil); err != nil || code != 200 || body != "a" {
		t.Errorf("GET after HEAD: %d %q %v", code, body, err)
	}
}

// ip_hash picks the same upstream for a client in every process (each
// worker of a supervisor has its own proxy), whatever the list's order.
func TestProxyIPHashSameInEveryProcess(t *testing.T) {
	ups := []string{"127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"}
	p1, err := New(Config{Upstreams: ups, Strategy: IPHash, Metrics: NewUpstreamMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := New(Config{Upstreams: []string{ups[2], ups[0], ups[1]}, Strategy: IPHash, Metrics: NewUpstreamMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	used := map[string]int{}
	for i := range 300 {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 0, byte(i/256), byte(i))}, nil)
		a, b := p1.pool.Load().pick(&ctx, nil), p2.pool.Load().pick(&ctx, nil)
		if a.addr != b.addr {
			t.Fatalf("client %d: %s in one process, %s in another", i, a.addr, b.addr)
		}
		used[a.addr]++
	}
	for _, u := range ups {
		if used[u] < 60 {
			t.Errorf("300 clients: %v, want each upstream near 100", used)
		}
	}
}

// A report that an upstream is still up leaves a passive marking alone; a
// check that fails and then passes again ends it.
func TestProxySetUpstreamUpAndPassiveMarks(t *testing.T) {
	const addr = "127.0.0.1:1001"
	p, err := New(Config{Upstreams: []string{addr, "127.0.0.1:1002"}, FailTimeout: time.Minute, Metrics: NewUpstreamMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pool := p.pool.Load()
	pool.byAddr[addr].failed(&pool.cfg, pool.single) // max_fails 1
	up := func() bool { ok, _ := p.UpstreamUp(addr); return ok }
	if up() {
		t.Fatal("not marked down after max_fails errors")
	}
	p.SetUpstreamUp(addr, true)
	if up() {
		t.Error("a repeated up report ended the passive marking")
	}
	p.SetUpstreamUp(addr, false)
	p.SetUpstreamUp(addr, true)
	if !up() {
		t.Error("a check that failed and passed again left the upstream out")
	}
}
