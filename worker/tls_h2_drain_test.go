package worker

import (
	"context"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// A drain with a deadline tells a quiet HTTP/2 connection to go at once,
// and a busy one only near the deadline: every request the busy one sends
// before its GOAWAY is answered 200, and it is never refused.
func TestH2DrainLetsBusyConnectionsFinish(t *testing.T) {
	cert, key, pool := devPair(t, h2DosSNI)
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true})
	r := NewRouter()
	r.GET("/ok", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	s.SetRouter(r)
	addr := listenTLS(t, s, cert, key)

	idle := dialH2Raw(t, addr, pool)
	busy := dialH2Raw(t, addr, pool)
	for _, c := range []*h2Raw{idle, busy} {
		if err := c.request(1, "GET", "/ok", true); err != nil {
			t.Fatal(err)
		}
		if err := c.flush(); err != nil {
			t.Fatal(err)
		}
		c.readAnswers([]uint32{1}, "ok", 5*time.Second)
	}

	const drain = 3 * time.Second
	began := time.Now()
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		stopped <- sm.Drain(ctx, 0)
	}()

	idleGone := make(chan time.Duration, 1)
	go func() {
		defer close(idleGone)
		deadline := time.Now().Add(drain)
		for {
			f, err := idle.read(deadline)
			if err != nil {
				return
			}
			if _, ok := f.(*http2.GoAwayFrame); ok {
				idleGone <- time.Since(began)
				return
			}
		}
	}()

	// The busy client sends a request every 20 ms until it is told to go.
	var busyGone time.Duration
	id := uint32(3)
	answered := 0
	for busyGone == 0 {
		if time.Since(began) > drain {
			t.Fatal("the busy connection got no GOAWAY before the drain's deadline")
		}
		if err := busy.request(id, "GET", "/ok", true); err != nil {
			t.Fatal(err)
		}
		if err := busy.flush(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for done := false; !done; {
			f, err := busy.read(deadline)
			if err != nil {
				t.Fatalf("stream %d: %v", id, err)
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				if f.ErrCode != http2.ErrCodeNo {
					t.Fatalf("GOAWAY %v, want NO_ERROR", f.ErrCode)
				}
				if busyGone == 0 {
					busyGone = time.Since(began)
				}
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset with %v", f.StreamID, f.ErrCode)
			case *http2.DataFrame:
				done = f.StreamID == id && f.StreamEnded()
			case *http2.HeadersFrame:
				done = f.StreamID == id && f.StreamEnded()
			}
		}
		if got := busy.status[id]; got != 200 {
			t.Fatalf("stream %d: status %d, want 200", id, got)
		}
		answered++
		id += 2
		time.Sleep(20 * time.Millisecond)
	}
	got, ok := <-idleGone
	if !ok {
		t.Fatal("the idle connection got no GOAWAY")
	}
	t.Logf("idle connection told after %v, busy one after %v and %d requests", got, busyGone, answered)
	// Wide margins: the quiet look runs every drainQuiet, the busy
	// connections are told a quarter of the drain before its deadline.
	if got > drain/3 {
		t.Errorf("the idle connection was told after %v, want well before %v", got, drain/3)
	}
	if busyGone < drain/2 {
		t.Errorf("the busy connection was told after %v, want no sooner than %v", busyGone, drain/2)
	}
	_ = busy.conn.Close()
	if err := <-stopped; err != nil {
		t.Errorf("drain: %v", err)
	}
}
