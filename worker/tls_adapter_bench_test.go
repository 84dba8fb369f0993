package worker

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/quic-go/quic-go/http3"
	"github.com/valyala/fasthttp"
)

// benchWriter is a ResponseWriter that keeps nothing, reusing its header map.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// h3Adapter starts a TLS server and returns an HTTP/3 adapter on it.
func h3Adapter(b *testing.B) (*adapter, string) {
	certFile, keyFile, _ := devPair(b)
	sm := quietManager(b)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true})
	r := NewRouter()
	r.GET("/bench/:id", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.Header.Set("X-Request-Id", "abc")
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("hello, world")
	})
	r.POST("/bench/:id", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBody(ctx.PostBody()[:5])
	})
	s.SetRouter(r)
	addr := listenTLS(b, s, certFile, keyFile)
	m := sm.(*serverManager)
	m.mu.Lock()
	a := &adapter{ts: m.bindings[addr].tls, proto: "HTTP/3.0", maxBody: DefaultMaxRequestSize, flog: fasthttpLogger{m.log}}
	m.mu.Unlock()
	return a, addr
}

// BenchmarkAdapter measures the adapter alone: an HTTP/3 request as
// quic-go hands it over, through the RequestCtx, the dispatch, the
// router and a handler, to the ResponseWriter.
func BenchmarkAdapter(b *testing.B) {
	a, addr := h3Adapter(b)
	raddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	laddr, _ := net.ResolveTCPAddr("tcp", addr)
	ctx := context.WithValue(context.WithValue(context.Background(), http3.RemoteAddrContextKey, net.Addr(raddr)), http.LocalAddrContextKey, net.Addr(laddr))
	state := &tls.ConnectionState{Version: tls.VersionTLS13, NegotiatedProtocol: "h3", ServerName: "example.test"}
	mk := func(method string, body io.Reader, n int64) *http.Request {
		req := (&http.Request{
			Method:     method,
			Proto:      "HTTP/3.0",
			ProtoMajor: 3,
			Host:       "example.test",
			RequestURI: "/bench/42?q=1",
			RemoteAddr: raddr.String(),
			TLS:        state,
			Header: http.Header{
				"Accept":          {"*/*"},
				"User-Agent":      {"bench/1.0"},
				"Accept-Encoding": {"gzip, br"},
				"X-Rep":           {"a", "b"},
			},
			Body:          http.NoBody,
			ContentLength: n,
		}).WithContext(ctx)
		if body != nil {
			req.Body = io.NopCloser(body)
		}
		return req
	}
	w := &benchWriter{h: make(http.Header)}

	b.Run("GET", func(b *testing.B) {
		req := mk("GET", nil, 0)
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			a.ServeHTTP(w, req)
		}
		if w.status != 200 || w.n == 0 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	})
	b.Run("POST-1KiB", func(b *testing.B) {
		payload := strings.Repeat("x", 1024)
		rd := strings.NewReader(payload)
		req := mk("POST", rd, int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(payload)
			clear(w.h)
			a.ServeHTTP(w, req)
		}
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
	})
}

// BenchmarkH2AdapterNetwork is the same GET over a real HTTP/2 connection
// on loopback (client and TLS included), for scale.
func BenchmarkH2AdapterNetwork(b *testing.B) {
	certFile, keyFile, pool := devPair(b)
	sm := quietManager(b)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true})
	r := NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello, world") })
	s.SetRouter(r)
	addr := listenTLS(b, s, certFile, keyFile)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get("https://" + addr + "/")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkH3AdapterNetwork is BenchmarkH2AdapterNetwork over HTTP/3: quic-go's
// client and server on loopback UDP, the adapter, the dispatch and a
// handler.
func BenchmarkH3AdapterNetwork(b *testing.B) {
	certFile, keyFile, pool := devPair(b)
	sm := quietManager(b)
	s := sm.NewServer(ServerConfig{})
	r := NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello, world") })
	s.SetRouter(r)
	errc := make(chan error, 1)
	go func() { errc <- s.ListenQUIC("127.0.0.1:0", certFile, keyFile) }()
	waitListening(b, s, errc)
	b.Cleanup(func() {
		_ = s.Shutdown(context.Background())
		<-errc
	})
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	url := "https://" + s.Addr() + "/"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
