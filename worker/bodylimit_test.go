package worker

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Bodies stream into the server (bodyLimit); a handler that reads the
// whole body still gets all of it, chunked or not, within MaxRequestSize,
// and a host that streams reads a chunked body as it comes, up to the limit.
func TestRequestBodiesWithinTheLimit(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	echoLen := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(strconv.Itoa(len(ctx.PostBody()))) }
	r.Host("whole.test").POST("/", echoLen)
	r.Host("stream.test").POST("/", func(ctx *fasthttp.RequestCtx) {
		n, err := io.Copy(io.Discard, ctx.RequestBodyStream())
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			ctx.Error("too large after "+strconv.FormatInt(n, 10), fasthttp.StatusRequestEntityTooLarge)
			return
		}
		ctx.SetBodyString(strconv.FormatInt(n, 10))
	})
	if err := sm.RegisterHost("stream.test", HostConfig{StreamRequestBody: true}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{MaxRequestSize: 100 << 10}, r)
	body := func(n int, chunked bool) io.Reader {
		var rd io.Reader = strings.NewReader(strings.Repeat("b", n))
		if chunked {
			rd = io.MultiReader(rd) // no length: the client sends it chunked
		}
		return rd
	}
	for _, host := range []string{"whole.test", "stream.test"} {
		for _, chunked := range []bool{false, true} {
			for _, n := range []int{0, 10, 50 << 10, 100 << 10} {
				code, got := do(t, "POST", addr, host, "/", body(n, chunked))
				if code != 200 || got != strconv.Itoa(n) {
					t.Errorf("%s chunked=%v %d bytes: %d %q", host, chunked, n, code, got)
				}
			}
		}
	}
	// Over the limit, chunked: the whole-body host refuses it before its
	// handler; the streaming one's handler sees the error.
	for _, host := range []string{"whole.test", "stream.test"} {
		code, got := do(t, "POST", addr, host, "/", body(200<<10, true))
		if code != 413 {
			t.Errorf("%s: chunked 200 KB over a 100 KB limit: %d %q, want 413", host, code, got)
		}
	}
}
