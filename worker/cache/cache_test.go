package cache

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// origin is a handler that counts its calls and answers with its headers.
type origin struct {
	calls   atomic.Int64
	status  atomic.Int64 // 0: 200
	headers map[string]string
	gate    chan struct{} // when set, each call waits for it to close
}

func (o *origin) handle(ctx *fasthttp.RequestCtx) {
	n := o.calls.Add(1)
	if o.gate != nil {
		<-o.gate
	}
	if s := o.status.Load(); s != 0 {
		ctx.SetStatusCode(int(s))
		ctx.SetBodyString("error")
		return
	}
	for k, v := range o.headers {
		ctx.Response.Header.Set(k, v)
	}
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(fmt.Sprintf("body %d for %s", n, ctx.RequestURI()))
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() int64          { return c.ns.Load() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

func newTestCache(t testing.TB, tenant string) (*Cache, *clock) {
	clk := &clock{}
	clk.ns.Store(int64(time.Hour))
	c := New(newTestStore(t, 1<<20), Config{Tenant: tenant, TTL: 10 * time.Second, Now: clk.now})
	t.Cleanup(c.Close)
	return c, clk
}

type answer struct {
	status int
	body   string
	xcache string
	header *fasthttp.ResponseHeader
}

// newCtx is a request from 127.0.0.1, headers given as name, value pairs.
func newCtx(method, host, uri string, hdr ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.Header.SetHost(host)
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	return ctx
}

func do(h fasthttp.RequestHandler, method, host, uri string, hdr ...string) answer {
	ctx := newCtx(method, host, uri, hdr...)
	h(ctx)
	a := answer{status: ctx.Response.StatusCode(), body: string(ctx.Response.Body()), xcache: string(ctx.Response.Header.Peek("X-Cache"))}
	a.header = new(fasthttp.ResponseHeader)
	ctx.Response.Header.CopyTo(a.header)
	return a
}

func TestCacheHitMiss(t *testing.T) {
	c, _ := newTestCache(t, "t1")
	o := &origin{headers: map[string]string{"X-Origin": "yes"}}
	h := c.Wrap(o.handle)
	a := do(h, "GET", "example.com", "/x?q=1")
	if a.xcache != Miss || a.body != "body 1 for /x?q=1" {
		t.Fatalf("first GET: %s %q", a.xcache, a.body)
	}
	for range 3 {
		a = do(h, "GET", "EXAMPLE.com", "/x?q=1")
		if a.xcache != Hit || a.body != "body 1 for /x?q=1" || string(a.header.Peek("X-Origin")) != "yes" || string(a.header.ContentType()) != "text/plain" {
			t.Fatalf("GET again: %s %q %q", a.xcache, a.body, a.header.String())
		}
	}
	if a := do(h, "GET", "example.com", "/x?q=2"); a.xcache != Miss {
		t.Fatalf("another query: %s", a.xcache)
	}
	if a := do(h, "HEAD", "example.com", "/x?q=1"); a.xcache != Hit || a.status != 200 {
		t.Fatalf("HEAD of a GET entry: %s %d", a.xcache, a.status)
	}
	if a := do(h, "POST", "example.com", "/x?q=1"); a.xcache != Bypass {
		t.Fatalf("POST: %s", a.xcache)
	}
	if a := do(h, "GET", "example.com", "/x?q=1", "Authorization", "Bearer x"); a.xcache != Bypass {
		t.Fatalf("GET with Authorization: %s", a.xcache)
	}
	if n := o.calls.Load(); n != 4 {
		t.Fatalf("origin called %d times, want 4 (2 misses, POST, authorized GET)", n)
	}
	if st := c.Store().Stats(); st.Hits != 4 || st.Misses != 2 {
		t.Fatalf("stats %+v, want 4 hits 2 misses", st)
	}
}

func TestCacheTTLAndNoStore(t *testing.T) {
	c, clk := newTestCache(t, "")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=5"}}
	h := c.Wrap(o.handle)
	do(h, "GET", "h", "/")
	clk.add(4 * time.Second)
	if a := do(h, "GET", "h", "/"); a.xcache != Hit || string(a.header.Peek("Age")) != "4" {
		t.Fatalf("at 4s: %s age %q", a.xcache, a.header.Peek("Age"))
	}
	clk.add(2 * time.Second)
	if a := do(h, "GET", "h", "/"); a.xcache != Miss {
		t.Fatalf("at 6s, max-age=5: %s", a.xcache)
	}
	o2 := &origin{headers: map[string]string{"Cache-Control": "private"}}
	h2 := c.Wrap(o2.handle)
	do(h2, "GET", "h", "/p")
	if a := do(h2, "GET", "h", "/p"); a.xcache != Miss || o2.calls.Load() != 2 {
		t.Fatalf("private answer was cached: %s", a.xcache)
	}
}

func TestCacheVary(t *testing.T) {
	c, _ := newTestCache(t, "")
	o := &origin{headers: map[string]string{"Vary": "Accept-Language"}}
	h := c.Wrap(o.handle)
	en := do(h, "GET", "h", "/", "Accept-Language", "en")
	fr := do(h, "GET", "h", "/", "Accept-Language", "fr")
	if en.xcache != Miss || fr.xcache != Miss || en.body == fr.body {
		t.Fatalf("two languages: %s %q, %s %q", en.xcache, en.body, fr.xcache, fr.body)
	}
	if a := do(h, "GET", "h", "/", "Accept-Language", "fr"); a.xcache != Hit || a.body != fr.body {
		t.Fatalf("fr again: %s %q", a.xcache, a.body)
	}
	if a := do(h, "GET", "h", "/", "Accept-Language", "en"); a.xcache != Hit || a.body != en.body {
		t.Fatalf("en again: %s %q", a.xcache, a.body)
	}
}

// N concurrent misses of one key cost one call to the origin.
func TestCacheCoalescing(t *testing.T) {
	c, _ := newTestCache(t, "")
	o := &origin{gate: make(chan struct{})}
	h := c.Wrap(o.handle)
	const n = 20
	var wg sync.WaitGroup
	res := make([]answer, n)
	for i := range n {
		wg.Go(func() { res[i] = do(h, "GET", "h", "/slow") })
	}
	// Wait until the leader is in the origin and the rest are waiting on it.
	deadline := time.Now().Add(5 * time.Second)
	for o.calls.Load() == 0 || c.waiting() < n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("calls %d, waiting %d", o.calls.Load(), c.waiting())
		}
		time.Sleep(time.Millisecond)
	}
	close(o.gate)
	wg.Wait()
	if got := o.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d origin calls, want 1", n, got)
	}
	hits := 0
	for _, a := range res {
		if a.body != "body 1 for /slow" {
			t.Fatalf("answer %q", a.body)
		}
		if a.xcache == Hit {
			hits++
		}
	}
	if hits != n-1 {
		t.Fatalf("%d hits, want %d", hits, n-1)
	}
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	c, clk := newTestCache(t, "")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=1, stale-while-revalidate=30"}}
	h := c.Wrap(o.handle)
	do(h, "GET", "h", "/")
	clk.add(5 * time.Second)
	if a := do(h, "GET", "h", "/"); a.xcache != Stale || a.body != "body 1 for /" {
		t.Fatalf("in the swr window: %s %q", a.xcache, a.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := do(h, "GET", "h", "/")
		if a.xcache == Hit && a.body == "body 2 for /" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background revalidation never stored: %s %q", a.xcache, a.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := o.calls.Load(); n != 2 {
		t.Fatalf("origin calls %d, want 2", n)
	}
}

func TestCacheStaleIfError(t *testing.T) {
	c, clk := newTestCache(t, "")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=1, stale-if-error=60"}}
	h := c.Wrap(o.handle)
	do(h, "GET", "h", "/")
	clk.add(5 * time.Second)
	o.status.Store(502)
	if a := do(h, "GET", "h", "/"); a.xcache != Stale || a.status != 200 || a.body != "body 1 for /" {
		t.Fatalf("origin failing in the sie window: %s %d %q", a.xcache, a.status, a.body)
	}
	clk.add(time.Minute)
	if a := do(h, "GET", "h", "/"); a.status != 502 || a.xcache != Miss {
		t.Fatalf("past the sie window: %s %d", a.xcache, a.status)
	}
}

// Tenants share a store but not entries: the same host and path under
// another tenant is a miss, and a purge of one leaves the other's.
func TestCacheTenantIsolation(t *testing.T) {
	st := newTestStore(t, 1<<20)
	a := New(st, Config{Tenant: "a"})
	b := New(st, Config{Tenant: "b"})
	o := &origin{}
	do(a.Wrap(o.handle), "GET", "h", "/")
	if r := do(b.Wrap(o.handle), "GET", "h", "/"); r.xcache != Miss {
		t.Fatalf("tenant b read tenant a's entry: %s", r.xcache)
	}
	if n := st.Purge(Match("a", "", "/", "")); n != 1 {
		t.Fatalf("purge of a: %d", n)
	}
	if r := do(b.Wrap(o.handle), "GET", "h", "/"); r.xcache != Hit {
		t.Fatalf("a's purge removed b's entry: %s", r.xcache)
	}
}

// Answer serves fresh hits only, allocation-free, and leaves the response
// alone otherwise.
func TestCacheAnswer(t *testing.T) {
	c, clk := newTestCache(t, "t")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=5"}}
	h := c.Wrap(o.handle)
	ctx := newCtx("GET", "h.test", "/a")
	if c.Answer(ctx) || ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != 0 {
		t.Fatal("Answer answered a miss")
	}
	h(ctx)
	ctx.Response.Reset()
	if !c.Answer(ctx) || string(ctx.Response.Header.Peek("X-Cache")) != Hit || string(ctx.Response.Body()) != "body 1 for /a" {
		t.Fatalf("Answer of a fresh entry: %q", ctx.Response.Body())
	}
	clk.add(6 * time.Second)
	ctx.Response.Reset()
	if c.Answer(ctx) {
		t.Fatal("Answer answered a stale entry")
	}
	if o.calls.Load() != 1 {
		t.Fatalf("Answer called the origin")
	}
}

// Two processes sharing a store (two Caches over it here) coalesce their
// misses too: one origin call for the misses of both.
func TestCacheCoalescingAcrossProcesses(t *testing.T) {
	st := newTestStore(t, 1<<20)
	a, b := New(st, Config{}), New(st, Config{})
	defer a.Close()
	defer b.Close()
	o := &origin{gate: make(chan struct{})}
	var wg sync.WaitGroup
	res := make([]answer, 20)
	for i := range res {
		c := a
		if i%2 == 1 {
			c = b
		}
		h := c.Wrap(o.handle)
		wg.Go(func() { res[i] = do(h, "GET", "h", "/slow") })
	}
	deadline := time.Now().Add(5 * time.Second)
	for o.calls.Load() == 0 || a.waiting()+b.waiting() < len(res)-1 {
		if time.Now().After(deadline) {
			t.Fatalf("calls %d, waiting %d", o.calls.Load(), a.waiting()+b.waiting())
		}
		time.Sleep(time.Millisecond)
	}
	close(o.gate)
	wg.Wait()
	if n := o.calls.Load(); n != 1 {
		t.Fatalf("%d misses over two processes made %d origin calls, want 1", len(res), n)
	}
	for _, r := range res {
		if r.body != "body 1 for /slow" {
			t.Fatalf("answer %q", r.body)
		}
	}
	if st.Fetching([]byte(AppendKey(nil, "", []byte("h"), []byte("/slow"))), shmNow()) {
		t.Fatal("the claim outlived the fetch")
	}
}

// A claim expires: a process that died fetching holds the others up for
// Wait at most.
func TestStoreClaimExpires(t *testing.T) {
	st := newTestStore(t, MinStoreSize)
	k := []byte("k")
	if !st.Claim(k, 100, 200) || st.Claim(k, 150, 300) || !st.Fetching(k, 150) {
		t.Fatal("a second claim before the first expired was granted")
	}
	if st.Fetching(k, 200) || !st.Claim(k, 200, 300) {
		t.Fatal("an expired claim still holds")
	}
	st.Release(k)
	if st.Fetching(k, 250) {
		t.Fatal("a released claim still holds")
	}
}
