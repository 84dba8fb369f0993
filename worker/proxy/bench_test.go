package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// BenchmarkProxy is one small GET through the proxy to a local upstream,
// over keep-alive connections, clients in parallel.
func BenchmarkProxy(b *testing.B) {
	a := pxUpstream(b, "a")
	c := pxUpstream(b, "c")
	addr, _ := pxFront(b, Config{Upstreams: []string{a.addr, c.addr}}, worker.ServerConfig{})
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: 512}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://proxy.test/fast")
		for pb.Next() {
			if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	})
}
