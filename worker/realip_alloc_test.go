//go:build !race

package worker

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAllocsRealIP: finding the client behind trusted proxies allocates
// nothing when the peer is not trusted or sends no header, and once (the
// address handed to ctx.SetRemoteAddr) when it names a client.
func TestAllocsRealIP(t *testing.T) {
	tests := []struct {
		name, trusted, header, want string
		max                         float64
	}{
		{"untrusted peer", "10.0.0.0/8", "X-Forwarded-For: 203.0.113.9\r\n", "127.0.0.1:40000", 0},
		{"trusted, no header", "127.0.0.1/32", "", "127.0.0.1:40000", 0},
		{"trusted chain", "127.0.0.1/32", "X-Forwarded-For: 198.51.100.7, 203.0.113.9, 127.0.0.1\r\n", "203.0.113.9:0", 1},
		{"IPv6 with a port", "127.0.0.1/32", "X-Forwarded-For: [2001:db8::1]:80\r\n", "[2001:db8::1]:80", 1},
		{"malformed", "127.0.0.1/32", "X-Forwarded-For: nonsense\r\n", "127.0.0.1:40000", 0},
	}
	for _, tt := range tests {
		r, err := newRealIP(ServerConfig{TrustedProxies: prefixes(t, tt.trusted)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
		wire := "GET / HTTP/1.1\r\nHost: a.test\r\n" + tt.header + "\r\n"
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(wire))); err != nil {
			t.Fatal(err)
		}
		r.apply(ctx)
		if got := ctx.RemoteAddr().String(); got != tt.want {
			t.Errorf("%s: RemoteAddr %s, want %s", tt.name, got, tt.want)
		}
		if got := testing.AllocsPerRun(1000, func() { r.apply(ctx) }); got > tt.max {
			t.Errorf("%s: %v allocs per request, want at most %v", tt.name, got, tt.max)
		}
	}
}
