//go:build !race

// The race detector allocates on its own, so these proofs run without it:
// go test -run Alloc ./worker/...

package worker

import (
	"io"
	"testing"

	"github.com/valyala/fasthttp"
)

// allocHosts is smaller than the benchmarks' 10,000 hosts: what allocates
// does not depend on how many hosts there are, and the test stays quick.
const allocHosts = 1000

// allocsPerRequest serves ctx with h many times and returns the mean
// allocations per request, after checking the response status.
func allocsPerRequest(t *testing.T, h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, want int) float64 {
	t.Helper()
	h(ctx) // the first request may grow buffers that later ones reuse
	if got := ctx.Response.StatusCode(); got != want {
		t.Fatalf("%s %s (Host %s) = %d, want %d", ctx.Method(), ctx.Path(), ctx.Host(), got, want)
	}
	return testing.AllocsPerRun(1000, func() {
		ctx.ResetUserValues() // as the server does after each request
		h(ctx)
	})
}

func TestAllocsRouter(t *testing.T) {
	r := newBenchRouter(allocHosts)
	r.Host("*.wild.example.com").GET("/", okHandler)
	h := r.Handler()
	host := benchHostName(allocHosts / 2)
	tests := []struct {
		name, host, uri string
		status          int
		max             float64
	}{
		{"static", host, "/api/v1/status", 200, 0},
		{"root", host, "/", 200, 0},
		{"param", host, "/users/12345", 200, 1},
		{"catch-all", host, "/files/a/b/c.txt", 200, 1},
		{"upper-case host and port", "APP00500.Tenant500.Example.COM:8080", "/about", 200, 0},
		{"wildcard host", "a.wild.example.com", "/", 200, 0},
		{"not found", host, "/nothing/here", 404, 0},
	}
	for _, tt := range tests {
		ctx := newCtx(fasthttp.MethodGet, tt.host, tt.uri)
		if got := allocsPerRequest(t, h, ctx, tt.status); got > tt.max {
			t.Errorf("%s: GET %s %s: %v allocs per request, want at most %v", tt.name, tt.host, tt.uri, got, tt.max)
		}
	}
}

func TestAllocsRequestPath(t *testing.T) {
	sm, serve := newBenchManager(t, allocHosts)
	host := benchHostName(allocHosts / 2)
	for _, uri := range []string{"/api/v1/status", "/"} {
		ctx := newCtx(fasthttp.MethodGet, host, uri)
		if got := allocsPerRequest(t, serve, ctx, 200); got != 0 {
			t.Errorf("GET %s %s: %v allocs per request through limits, metrics and middleware, want 0", host, uri, got)
		}
	}
	// The requests were counted, under their host and tenant.
	snap := sm.Metrics()
	if n := snap.Hosts[host].Requests; n < 2000 {
		t.Errorf("host %s counted %d requests, want at least 2000", host, n)
	}
	if n := snap.Tenants["tenant-50"].Requests; n < 2000 {
		t.Errorf("tenant-50 counted %d requests, want at least 2000", n)
	}
}

// With the access log on, in either format, the request path still
// allocates nothing: ids, the client's address, the Basic auth user and
// the line are all formatted into reused buffers.
func TestAllocsAccessLog(t *testing.T) {
	for _, format := range []string{AccessLogJSON, AccessLogCombined} {
		_, serve := newBenchManagerConfig(t, 10, ServerConfig{AccessLog: io.Discard, AccessLogFormat: format})
		ctx := newCtx(fasthttp.MethodGet, benchHostName(5), "/api/v1/status?q=1")
		ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Basic YWxpY2U6c2VjcmV0") // alice:secret
		ctx.Request.Header.Set(fasthttp.HeaderReferer, "http://example.com/")
		for _, id := range []string{"", "client-id-1"} {
			run := func() {
				ctx.ResetUserValues()
				if id == "" {
					ctx.Request.Header.Del(HeaderXRequestID) // a new id every time
				}
				serve(ctx)
			}
			ctx.Request.Header.Set(HeaderXRequestID, id)
			run()
			if got := ctx.Response.StatusCode(); got != 200 {
				t.Fatalf("%s: status %d", format, got)
			}
			if got := testing.AllocsPerRun(1000, run); got != 0 {
				t.Errorf("%s, X-Request-Id %q: %v allocs per request with the access log on, want 0", format, id, got)
			}
		}
	}
}
