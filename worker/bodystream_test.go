package worker

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"
)

// A handler that ignores a large request body still gets its answer to
// the client, on every request: the server reads the rest of the body
// instead of resetting a connection the client is still sending on.
func TestUnreadLargeBodyIsNotReset(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.POST("/ignore", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	_, addr := start(t, sm, ServerConfig{}, r)
	body := make([]byte, 3<<20)
	c := &http.Client{}
	for i := 0; i < 20; i++ {
		resp, err := c.Post("http://"+addr+"/ignore", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, got)
		}
	}
}
