//go:build !race

// The race detector allocates on its own, so these proofs run without it:
// go test -run Alloc ./worker/...

package cache

import "testing"

// A hit allocates nothing: the key, the entry's copy and the response are
// reused buffers.
func TestCacheHitAllocs(t *testing.T) {
	c, _ := newTestCache(t, "t")
	o := &origin{headers: map[string]string{"Cache-Control": "max-age=60", "X-A": "b"}}
	h := c.Wrap(o.handle)
	ctx := newCtx("GET", "h.test", "/page?x=1")
	h(ctx) // the miss that fills it
	run := func() {
		ctx.Response.Reset()
		h(ctx)
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
	ctx := newCtx("GET", "h.test", "/page")
	h(ctx)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
}

// Answer allocates nothing either.
func TestCacheAnswerAllocs(t *testing.T) {
	c, _ := newTestCache(t, "t")
	h := c.Wrap((&origin{}).handle)
	ctx := newCtx("GET", "h.test", "/a")
	h(ctx)
	if n := testing.AllocsPerRun(1000, func() { ctx.Response.Reset(); c.Answer(ctx) }); n != 0 {
		t.Fatalf("Answer allocates %v times", n)
	}
}
