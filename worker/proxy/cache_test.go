package proxy

import (
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// testCache answers /cached itself and keeps what it is offered.
type testCache struct {
	mu     sync.Mutex
	offers []string // "status body" of each answer offered
}

func (c *testCache) Serve(ctx *fasthttp.RequestCtx) bool {
	if string(ctx.Path()) != "/cached" {
		return false
	}
	ctx.SetBodyString("from cache")
	return true
}

func (c *testCache) Offer(ctx *fasthttp.RequestCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offers = append(c.offers, fasthttp.StatusMessage(ctx.Response.StatusCode())+" "+string(ctx.Response.Body()))
}

func (c *testCache) offered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.offers...)
}

// A Cache answers before the upstream is asked, and is offered the
// upstream's answers, but not the proxy's own error pages.
func TestProxyCacheHook(t *testing.T) {
	a := pxUpstream(t, "a")
	cache := &testCache{}
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}, Cache: cache, Retries: -1}, worker.ServerConfig{})
	c := pxClient(t)

	code, body, _, err := pxFetch(c, "GET", addr, "/cached", nil)
	if err != nil || code != 200 || body != "from cache" {
		t.Fatalf("GET /cached: %d %q %v", code, body, err)
	}
	if n := a.hits.Load(); n != 0 {
		t.Errorf("the upstream was asked %d times for a cached answer", n)
	}
	code, body, _, err = pxFetch(c, "GET", addr, "/", nil)
	if err != nil || code != 200 || body != "a" {
		t.Fatalf("GET /: %d %q %v", code, body, err)
	}
	if got, want := cache.offered(), []string{"OK a"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("offered %q, want %q", got, want)
	}

	a.kill()
	if code, _, _, _ := pxFetch(c, "GET", addr, "/", nil); code != fasthttp.StatusBadGateway {
		t.Fatalf("GET / with the upstream gone: %d, want 502", code)
	}
	if got := cache.offered(); len(got) != 1 {
		t.Errorf("offered %q: the proxy's own 502 was offered too", got)
	}
}
