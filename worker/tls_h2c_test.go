package worker

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// h2cClient speaks HTTP/2 with prior knowledge over cleartext TCP.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true) // prior knowledge: HTTP/2 from the first byte
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// The seed's plain server with EnableHTTP2 speaks cleartext HTTP/2 to a
// client with prior knowledge (h2c), on the event loop's port and
// without it, and HTTP/1.1 to everyone else; without EnableHTTP2 the
// preface gets no HTTP/2.
func TestH2CPriorKnowledge(t *testing.T) {
	for _, loop := range []bool{true, false} {
		t.Run(fmt.Sprintf("loop=%v", loop), func(t *testing.T) {
			sm := quietManager(t)
			r := NewRouter()
			r.GET("/info", func(ctx *fasthttp.RequestCtx) {
				fmt.Fprintf(ctx, "%s tls=%v scheme=%s host=%s", ctx.Request.Header.Protocol(), ctx.IsTLS(), ctx.URI().Scheme(), ctx.Host())
			})
			r.POST("/echo", func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.PostBody()) })
			_, addr := start(t, sm, ServerConfig{EnableHTTP2: true, DisableEventLoop: !loop}, r)
			c := h2cClient(t)
			for range 3 { // one connection, several streams
				resp, err := c.Get("http://" + addr + "/info")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 || string(b) != "HTTP/2.0 tls=false scheme=http host="+addr {
					t.Fatalf("%s %d %q", resp.Proto, resp.StatusCode, b)
				}
			}
			resp, err := c.Post("http://"+addr+"/echo", "text/plain", strings.NewReader("ping"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ping" {
				t.Fatalf("echo: %q", b)
			}
			if code, body := get(t, addr, addr, "/info"); code != 200 || body != "HTTP/1.1 tls=false scheme=http host="+addr {
				t.Fatalf("HTTP/1.1 beside h2c: %d %q", code, body)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		sm := quietManager(t)
		_, addr := start(t, sm, ServerConfig{}, okRouter(""))
		c := h2cClient(t)
		c.Timeout = 3 * time.Second
		if resp, err := c.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			t.Fatalf("h2c answered by a server without EnableHTTP2: %s", resp.Proto)
		}
	})
}
