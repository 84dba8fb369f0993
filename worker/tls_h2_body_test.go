package worker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A host that streams request bodies gets its HTTP/2 handler before the
// body has ended, reads the body as it comes, and the client can send
// far more than the stream's window; past MaxRequestSize the handler's
// read fails with ErrBodyTooLarge. Other hosts get the body whole.
func TestH2StreamedRequestBody(t *testing.T) {
	certFile, keyFile, pool := devPair(t, "stream.test", "whole.test")
	sm := quietManager(t)
	if err := sm.RegisterHost("stream.test", HostConfig{StreamRequestBody: true}); err != nil {
		t.Fatal(err)
	}
	firstRead := make(chan struct{}, 1)
	r := NewRouter()
	r.Host("stream.test").POST("/", func(ctx *fasthttp.RequestCtx) {
		body := ctx.RequestBodyStream()
		buf := make([]byte, 32<<10)
		var n int64
		for {
			m, err := body.Read(buf)
			n += int64(m)
			if m > 0 && n == int64(m) {
				firstRead <- struct{}{}
			}
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				ctx.Error("too large", fasthttp.StatusRequestEntityTooLarge)
				return
			}
			if err != nil {
				break
			}
		}
		fmt.Fprintf(ctx, "%d", n)
	})
	r.Host("whole.test").POST("/", func(ctx *fasthttp.RequestCtx) { fmt.Fprintf(ctx, "%d", len(ctx.PostBody())) })
	s := sm.NewServer(ServerConfig{EnableHTTP2: true, MaxRequestSize: 8 << 20})
	s.SetRouter(r)
	addr := listenTLS(t, s, certFile, keyFile)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	post := func(host string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "https://"+addr+"/", body)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s: %s", host, resp.Proto)
		}
		return resp.StatusCode, string(b)
	}

	// The handler has read the first part while the client still holds
	// the rest back: it runs before the body ends.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(strings.Repeat("a", 1000)))
		select {
		case <-firstRead:
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("the handler did not read before the body ended"))
			return
		}
		// Then 6 MiB: six times the stream's window.
		chunk := []byte(strings.Repeat("b", 64<<10))
		for range 96 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	if code, got := post("stream.test", pr); code != 200 || got != fmt.Sprint(1000+96*64<<10) {
		t.Fatalf("streamed: %d %q", code, got)
	}
	// Past MaxRequestSize.
	if code, _ := post("stream.test", io.MultiReader(strings.NewReader(strings.Repeat("c", 9<<20)))); code != 413 {
		t.Fatalf("streamed over the limit: %d, want 413", code)
	}
	<-firstRead // the over-limit request's first read
	// A host that does not stream gets the body whole.
	if code, got := post("whole.test", strings.NewReader(strings.Repeat("d", 3<<20))); code != 200 || got != fmt.Sprint(3<<20) {
		t.Fatalf("whole: %d %q", code, got)
	}
}
