package worker

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// The router benchmarks route over benchHosts hosts of ten routes each, five
// static and five with parameters, all built through the public API.
const benchHosts = 10_000

// benchRoutes are the ten routes of every benchmark host.
var benchRoutes = [...]string{
	"/", "/about", "/contact", "/api/v1/status", "/static/app.css",
	"/users/:id", "/users/:id/posts", "/posts/:slug", "/api/v1/items/:id", "/files/*path",
}

func benchHostName(i int) string { return fmt.Sprintf("app%05d.tenant%03d.example.com", i, i%1000) }

var benchBody = []byte("ok")

func okHandler(ctx *fasthttp.RequestCtx) { ctx.SetBody(benchBody) }

// newBenchRouter returns a root router with n hosts of benchRoutes each.
func newBenchRouter(n int) *Router {
	r := NewRouter()
	for i := range n {
		h := r.Host(benchHostName(i))
		for _, p := range benchRoutes {
			h.GET(p, okHandler)
		}
	}
	return r
}

// newCtx returns a RequestCtx as fasthttp hands one to a handler: the
// request read from the wire (so its raw headers are there to count), and
// its URI parsed.
func newCtx(method, host, uri string) *fasthttp.RequestCtx {
	wire := method + " " + uri + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: rockstar-bench/1.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\r\n"
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(wire))); err != nil {
		panic(err)
	}
	ctx.Host() // parse the URI once, as the server's first look does
	return ctx
}

// benchCtxs returns count prepared requests for uri, for hosts spread
// over the first n.
func benchCtxs(n, count int, uri string) []*fasthttp.RequestCtx {
	ctxs := make([]*fasthttp.RequestCtx, count)
	for i := range ctxs {
		ctxs[i] = newCtx(fasthttp.MethodGet, benchHostName((i*7919+4321)%n), uri)
	}
	return ctxs
}

// spreadCtxs is how many requests, each for another host and each in its
// own RequestCtx, the /spread benchmarks take turns with. Their data does
// not all stay in the CPU's nearest caches, as one hot request's does.
const spreadCtxs = 256

// runHandler runs the sub-benchmarks of h: "one-ctx" serves one prepared
// request again and again, as a server does with the RequestCtx it has just
// parsed; "spread" takes turns with spreadCtxs requests for as many hosts,
// so that the hosts' state comes from colder caches.
func runHandler(b *testing.B, h fasthttp.RequestHandler, uri string) {
	ctxs := benchCtxs(benchHosts, spreadCtxs, uri)
	for _, ctx := range ctxs { // warm up, and check that it routes
		h(ctx)
		if code := ctx.Response.StatusCode(); code != fasthttp.StatusOK {
			b.Fatalf("GET %s %s = %d", ctx.Host(), uri, code)
		}
	}
	b.Run("one-ctx", func(b *testing.B) {
		ctx := ctxs[0]
		b.ReportAllocs()
		for b.Loop() {
			ctx.ResetUserValues() // as the server does after each request
			h(ctx)
		}
	})
	b.Run("spread", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ctx := ctxs[i%spreadCtxs]
			ctx.ResetUserValues()
			h(ctx)
		}
	})
}

// requestDispatch returns the per-request path of s exactly as a listening
// binding runs it (host lookup, limits, metrics, middleware, handler), built
// by the manager's own rebuild code, without opening a socket. Later
// registry changes do not reach it.
func requestDispatch(sm ServerManager, s Server) fasthttp.RequestHandler {
	m := sm.(*serverManager)
	srv := s.(*server)
	m.mu.Lock()
	defer m.mu.Unlock()
	b := newBinding("dispatch-under-test", nil, srv.cfg, m.log)
	b.members = []*server{srv}
	m.rebuildBindingLocked(b)
	return b.serve
}

// passMiddleware is a typical cheap middleware: it looks at the request and
// passes it on.
func passMiddleware(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Path()) == 0 {
			ctx.Error("Bad Request", fasthttp.StatusBadRequest)
			return
		}
		next(ctx)
	}
}

// unlimited is a rate limit that is switched on but far too high to trigger.
var unlimited = &RateLimitConfig{Enabled: true, RequestsPerSecond: 1e9, BurstSize: 1 << 30}

// newBenchManager returns a manager whose one server serves n hosts of
// benchRoutes, each host with an enabled host limit and one middleware, in
// tenants of ten hosts with an enabled tenant limit; and that server's
// per-request path.
func newBenchManager(tb testing.TB, n int) (ServerManager, fasthttp.RequestHandler) {
	return newBenchManagerConfig(tb, n, ServerConfig{})
}

// newBenchManagerConfig is newBenchManager with cfg for its server.
func newBenchManagerConfig(tb testing.TB, n int, cfg ServerConfig) (ServerManager, fasthttp.RequestHandler) {
	sm := NewServerManager()
	sm.SetLogger(zerolog.Nop())
	hosts := make([]string, 0, 10)
	for i := range n {
		name := benchHostName(i)
		if err := sm.RegisterHost(name, HostConfig{
			RateLimits: unlimited,
			Middleware: []MiddlewareFunc{passMiddleware},
		}); err != nil {
			tb.Fatal(err)
		}
		hosts = append(hosts, name)
		if len(hosts) == cap(hosts) || i == n-1 {
			err := sm.RegisterTenantConfig(TenantConfig{ID: fmt.Sprintf("tenant-%d", i/10), Hosts: hosts, RateLimits: unlimited})
			if err != nil {
				tb.Fatal(err)
			}
			hosts = hosts[:0]
		}
	}
	s := sm.NewServer(cfg)
	s.SetRouter(newBenchRouter(n))
	return sm, requestDispatch(sm, s)
}

// BenchmarkRouterStatic looks up one of 10,000 hosts of ten routes, then a
// static route, and calls its handler, through Router.Handler.
func BenchmarkRouterStatic(b *testing.B) {
	runHandler(b, newBenchRouter(benchHosts).Handler(), "/api/v1/status")
}

// BenchmarkRouterParam is BenchmarkRouterStatic for a route with one
// parameter, whose value is stored with ctx.SetUserValue.
func BenchmarkRouterParam(b *testing.B) {
	runHandler(b, newBenchRouter(benchHosts).Handler(), "/users/12345")
}

// BenchmarkRequestPath is the whole per-request path after fasthttp has
// parsed a request, as a listening server runs it: host lookup among 10,000
// hosts, the tenant's and the host's rate limits (enabled, never reached),
// metrics, one middleware and the handler of a static route.
func BenchmarkRequestPath(b *testing.B) {
	_, serve := newBenchManager(b, benchHosts)
	runHandler(b, serve, "/api/v1/status")
}

// BenchmarkLimiter is the in-process GCRA limiter under contention: every
// goroutine takes from one bucket.
func BenchmarkLimiter(b *testing.B) {
	lim := NewLocalLimiter(*unlimited)
	base := time.Now()
	var refused atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var i time.Duration
		for pb.Next() {
			i++
			if ok, _ := lim.Allow(base.Add(i)); !ok {
				refused.Add(1)
			}
		}
	})
	if n := refused.Load(); n > 0 {
		b.Fatalf("%d requests refused", n)
	}
}

// BenchmarkMetricsSnapshot takes a snapshot of a manager with 1,000 hosts
// that have all served.
func BenchmarkMetricsSnapshot(b *testing.B) {
	sm, serve := newBenchManager(b, 1000)
	for _, ctx := range benchCtxs(1000, 1000, "/") {
		serve(ctx)
	}
	if got := len(sm.Metrics().Hosts); got < 1000 {
		b.Fatalf("snapshot has %d hosts, want 1000", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = sm.Metrics()
	}
}
