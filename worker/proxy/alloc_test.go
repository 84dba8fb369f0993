//go:build !race

package proxy

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// Writing the upstream's request header allocates nothing once the
// buffers have grown: neither the checks of every name and value nor the
// forwarding headers the proxy sets.
func TestProxyForwardHeaderAllocs(t *testing.T) {
	var ctx fasthttp.RequestCtx
	ctx.Init2(&net.TCPConn{}, nil, false)
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.Header.SetRequestURI("/path?q=1")
	ctx.Request.Header.SetHost("proxy.test")
	ctx.Request.Header.Set("Connection", "keep-alive")
	ctx.Request.Header.Set("X-Forwarded-For", "10.0.0.1")
	ctx.Request.Header.Set("Accept", "*/*")
	ctx.Request.Header.Set("User-Agent", "test")
	ctx.SetRemoteAddr(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234})
	var dst fasthttp.RequestHeader
	if !forwardRequestHeader(&ctx, &dst, "proxy") {
		t.Fatal("refused a plain request")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		dst.Reset()
		forwardRequestHeader(&ctx, &dst, "proxy")
	})
	if allocs != 0 {
		t.Errorf("forwardRequestHeader allocates %.1f times a request, want 0", allocs)
	}
}
