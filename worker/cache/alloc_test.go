//go:build !race

// The race detector allocates on its own, so these proofs run without it:
// go test -run Alloc ./worker/...

package cache

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// A hit allocates nothing: the key, the entry's copy and the response are
// reused buffers.
func TestCacheHitAllocs(t *testing.T) {
	c, _ := newTestCache(t, "t")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=60", "X-A": "b"}}
	h := c.Wrap(o.handle)
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.Header.SetHost("h.test")
	req.SetRequestURI("/page?x=1")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	h(&ctx) // the miss that fills it
	run := func() {
		ctx.Response.Reset()
		h(&ctx)
	}
	run()
	if got := string(ctx.Response.Header.Peek("X-Cache")); got != Hit {
		t.Fatalf("X-Cache %q", got)
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("a hit allocates %v times, want 0", n)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c, _ := newTestCache(b, "t")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=60"}}
	h := c.Wrap(o.handle)
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.Header.SetHost("h.test")
	req.SetRequestURI("/page")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	h(&ctx)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}

// Answer allocates nothing either.
func TestCacheAnswerAllocs(t *testing.T) {
	c, _ := newTestCache(t, "t")
	h := c.Wrap((&origin{}).handle)
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.Header.SetHost("h.test")
	req.SetRequestURI("/a")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	h(&ctx)
	if n := testing.AllocsPerRun(1000, func() { ctx.Response.Reset(); c.Answer(&ctx) }); n != 0 {
		t.Fatalf("Answer allocates %v times", n)
	}
}
