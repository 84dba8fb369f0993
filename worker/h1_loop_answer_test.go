//go:build linux

package worker

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// A host that is not inline but has an InlineAnswer (a cache's hits) gets
// the requests its answer takes served on the loop, with the host's
// headers and metrics; the rest go to a goroutine and its handler.
func TestLoopInlineAnswer(t *testing.T) {
	sm := quietManager(t)
	var handled, answered atomic.Int64
	cfg := ServerConfig{HostConfigs: map[string]*HostConfig{
		"cached.test": {
			SecurityConfig: &ServerSecurityConfig{Headers: map[string]string{"X-Host": "cached"}},
			Middleware: []MiddlewareFunc{func(fasthttp.RequestHandler) fasthttp.RequestHandler {
				return func(ctx *fasthttp.RequestCtx) {
					if _, ok := ctx.Conn().(*loopConn); ok {
						t.Error("the handler of a host that is not inline ran on the loop")
					}
					handled.Add(1)
					ctx.SetBodyString("handler")
				}
			}},
			InlineAnswer: func(ctx *fasthttp.RequestCtx) bool {
				if _, ok := ctx.Conn().(*loopConn); !ok {
					t.Error("InlineAnswer ran off the loop")
				}
				if string(ctx.Path()) != "/hit" {
					return false
				}
				answered.Add(1)
				ctx.SetBodyString("from the answer")
				return true
			},
		},
	}}
	_, addr := start(t, sm, cfg, nil)
	c, br := dialConn(t, addr)
	for range 3 {
		send(t, c, "GET /hit HTTP/1.1\r\nHost: cached.test\r\n\r\n")
		h := readHead(t, br, "GET /hit")
		if !strings.Contains(h, "X-Host: cached\r\n") {
			t.Fatalf("an answer on the loop lacks the host's headers: %q", h)
		}
		body := make([]byte, len("from the answer"))
		if _, err := br.Read(body); err != nil || string(body) != "from the answer" {
			t.Fatalf("GET /hit: %q %v", body, err)
		}
	}
	if got := ask(t, c, br, "GET /miss HTTP/1.1\r\nHost: cached.test\r\n\r\n", "GET /miss"); got != "handler" {
		t.Fatalf("GET /miss: %q", got)
	}
	if answered.Load() != 3 || handled.Load() != 1 {
		t.Fatalf("answered %d, handled %d; want 3 and 1", answered.Load(), handled.Load())
	}
	if st := sm.Metrics().Hosts["cached.test"]; st.Requests != 4 {
		t.Fatalf("the host counted %d requests, want 4", st.Requests)
	}
}
