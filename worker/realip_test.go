package worker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/valyala/fasthttp"
)

// whoRouter answers every path with what the handler sees as its client:
// ctx.RemoteAddr(), then ctx.RemoteIP(), for any host; "inline.test"
// and "lim.test" have routes of their own, for a test to register them
// inline (the event loop serves them) or with a limit.
func whoRouter() *Router {
	r := NewRouter()
	who := func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(ctx.RemoteAddr().String() + " " + ctx.RemoteIP().String())
	}
	r.GET("/*any", who)
	r.Host("inline.test").GET("/*any", who)
	r.Host("lim.test").GET("/*any", who)
	return r
}

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// getWith sends GET / from local address ip with extra header lines
// (name, value pairs; a name may repeat) and returns status and body.
func getWith(t testing.TB, ip, addr, host string, hdr ...string) (int, string) {
	t.Helper()
	resp, body := requestFrom(t, ip, addr, host, hdr...)
	return resp.StatusCode, string(body)
}

// TestRealIPFromHeaders: X-Forwarded-For and Forwarded count only from a
// trusted peer, and then give the rightmost untrusted address; spoofed,
// malformed or absent headers leave the peer's address. On the event loop
// (inline host) and on a goroutine alike.
func TestRealIPFromHeaders(t *testing.T) {
	sm := quietManager(t)
	if err := sm.RegisterHost("inline.test", HostConfig{Inline: true}); err != nil {
		t.Fatal(err)
	}
	_, xffAddr := start(t, sm, ServerConfig{TrustedProxies: prefixes(t, "127.0.0.2/32", "10.0.0.0/8")}, whoRouter())
	_, fwdAddr := start(t, sm, ServerConfig{TrustedProxies: prefixes(t, "127.0.0.2/32", "10.0.0.0/8"),
		RealIPHeader: RealIPForwarded}, whoRouter())
	const xff = "X-Forwarded-For"
	tests := []struct {
		name, from, addr string
		hdr              []string
		want             string // RemoteAddr and RemoteIP; "" for the peer's own address
	}{
		{"untrusted peer, spoofed XFF", "127.0.0.1", xffAddr, []string{xff, "203.0.113.9"}, ""},
		{"trusted peer, no header", "127.0.0.2", xffAddr, nil, ""},
		{"trusted peer, one hop", "127.0.0.2", xffAddr, []string{xff, "203.0.113.9"}, "203.0.113.9:0 203.0.113.9"},
		{"trusted chain", "127.0.0.2", xffAddr, []string{xff, "198.51.100.7, 203.0.113.9, 10.1.2.3"}, "203.0.113.9:0 203.0.113.9"},
		{"chain over two lines", "127.0.0.2", xffAddr, []string{xff, "198.51.100.7, 203.0.113.9", xff, "10.1.2.3,10.9.9.9"}, "203.0.113.9:0 203.0.113.9"},
		{"all hops trusted", "127.0.0.2", xffAddr, []string{xff, "10.0.0.1, 10.0.0.2"}, "10.0.0.1:0 10.0.0.1"},
		{"IPv6 and a port", "127.0.0.2", xffAddr, []string{xff, "[2001:db8::5]:4711, 10.0.0.2"}, "[2001:db8::5]:4711 2001:db8::5"},
		{"IPv4 with a port, empty elements", "127.0.0.2", xffAddr, []string{xff, "203.0.113.9:80, , 10.0.0.2,"}, "203.0.113.9:80 203.0.113.9"},
		{"malformed hop", "127.0.0.2", xffAddr, []string{xff, "203.0.113.9, not-an-ip, 10.0.0.2"}, ""},
		{"malformed left of the client is not read", "127.0.0.2", xffAddr, []string{xff, "garbage, 203.0.113.9"}, "203.0.113.9:0 203.0.113.9"},
		{"zone", "127.0.0.2", xffAddr, []string{xff, "fe80::1%eth0"}, ""},
		{"XFF server ignores Forwarded", "127.0.0.2", xffAddr, []string{"Forwarded", "for=203.0.113.9"}, ""},
		{"Forwarded", "127.0.0.2", fwdAddr, []string{"Forwarded", `for=198.51.100.7;proto=https, for="[2001:db8::5]:4711";by=10.0.0.1, for=10.0.0.3`}, "[2001:db8::5]:4711 2001:db8::5"},
		{"Forwarded, case and spaces", "127.0.0.2", fwdAddr, []string{"Forwarded", `proto=http; For=203.0.113.9`}, "203.0.113.9:0 203.0.113.9"},
		{"Forwarded unknown", "127.0.0.2", fwdAddr, []string{"Forwarded", `for=203.0.113.9, for=unknown`}, ""},
		{"Forwarded without brackets", "127.0.0.2", fwdAddr, []string{"Forwarded", `for="2001:db8::5"`}, ""},
		{"Forwarded server ignores XFF", "127.0.0.2", fwdAddr, []string{xff, "203.0.113.9"}, ""},
		{"Forwarded from an untrusted peer", "127.0.0.1", fwdAddr, []string{"Forwarded", "for=203.0.113.9"}, ""},
	}
	for _, host := range []string{"inline.test", "other.test"} {
		for _, tt := range tests {
			code, body := getWith(t, tt.from, tt.addr, host, tt.hdr...)
			want := tt.want
			if want == "" {
				want = tt.from + ":"
			}
			if code != 200 || !strings.HasPrefix(body, want) {
				t.Errorf("%s (%s): %d %q, want 200 %q", tt.name, host, code, body, want)
			}
			if tt.want == "" && !strings.HasSuffix(body, " "+tt.from) {
				t.Errorf("%s (%s): RemoteIP in %q, want %s", tt.name, host, body, tt.from)
			}
		}
	}
}

// TestRealIPKeepAlive: the address found for one request does not stick
// to the next one on the same connection.
func TestRealIPKeepAlive(t *testing.T) {
	sm := quietManager(t)
	_, addr := start(t, sm, ServerConfig{TrustedProxies: prefixes(t, "127.0.0.0/8")}, whoRouter())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, tt := range []struct{ hdr, want string }{
		{"X-Forwarded-For: 203.0.113.9\r\n", "203.0.113.9:0"},
		{"", "127.0.0.1:"},
		{"X-Forwarded-For: 198.51.100.1\r\n", "198.51.100.1:0"},
	} {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: other.test\r\n"+tt.hdr+"\r\n"); err != nil {
			t.Fatal(err)
		}
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Body()); !strings.HasPrefix(got, tt.want) {
			t.Errorf("after %q: %q, want %q", tt.hdr, got, tt.want)
		}
	}
}

// TestRealIPLimitAndAccessLog: a per-client limit keys on the client
// found behind the trusted proxy, and the access log names it.
func TestRealIPLimitAndAccessLog(t *testing.T) {
	sm := quietManager(t)
	lim := &RateLimitConfig{Enabled: true, RequestsPerSecond: 0.01, BurstSize: 1, Key: KeyClientIP}
	if err := sm.RegisterHost("lim.test", HostConfig{RateLimits: lim}); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	_, addr := start(t, sm, ServerConfig{TrustedProxies: prefixes(t, "127.0.0.1/32"), AccessLog: &log}, whoRouter())
	for _, tt := range []struct {
		client string
		want   int
	}{{"203.0.113.1", 200}, {"203.0.113.1", 429}, {"203.0.113.2", 200}, {"203.0.113.2", 429}} {
		if code, _ := getWith(t, "127.0.0.1", addr, "lim.test", "X-Forwarded-For", tt.client); code != tt.want {
			t.Errorf("client %s: %d, want %d", tt.client, code, tt.want)
		}
	}
	var remotes []string
	for _, line := range log.lines() {
		var e struct {
			Remote string `json:"remote_addr"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		remotes = append(remotes, e.Remote)
	}
	want := []string{"203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.2"}
	if strings.Join(remotes, " ") != strings.Join(want, " ") {
		t.Errorf("access log remotes %q, want %q", remotes, want)
	}
}

// TestRealIPOverTLS: HTTP/1.1, HTTP/2 and HTTP/3 requests from a trusted
// peer get their client from X-Forwarded-For alike, and without one their
// RemoteIP is the peer's (HTTP/3's too, whose peer is a UDP address).
func TestRealIPOverTLS(t *testing.T) {
	certFile, keyFile, pool := devPair(t, "a.test")
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true, EnableQUIC: true, TrustedProxies: prefixes(t, "127.0.0.1/32")})
	s.SetRouter(whoRouter())
	addr := listenTLS(t, s, certFile, keyFile)
	for _, pc := range protoClients(t, pool, "") {
		for _, tt := range []struct{ xff, want string }{
			{"198.51.100.7, 203.0.113.9, 127.0.0.1", "203.0.113.9:0 203.0.113.9"},
			{"", "127.0.0.1:"},
		} {
			req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			resp, err := pc.c.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", pc.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasPrefix(string(b), tt.want) {
				t.Errorf("%s, XFF %q: %q, want %q", pc.name, tt.xff, b, tt.want)
			}
			if tt.xff == "" && !strings.HasSuffix(string(b), " 127.0.0.1") {
				t.Errorf("%s: RemoteIP in %q, want 127.0.0.1 (what client_ip limits key on)", pc.name, b)
			}
		}
	}
}

// proxyGet opens a connection to addr from local address from, writes
// header (a PROXY header, or nothing) and then a GET for host, and
// returns the response, or the error reading it.
func proxyGet(t testing.TB, from, addr string, header []byte, host string) (*fasthttp.Response, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(append(header, "GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"...)); err != nil {
		return nil, err
	}
	resp := &fasthttp.Response{}
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		return nil, err
	}
	return resp, nil
}

// proxyHeader formats a PROXY header of version v from src to the server.
func proxyHeader(t testing.TB, v byte, src string) []byte {
	t.Helper()
	ap := netip.MustParseAddrPort(src)
	proto := proxyproto.TCPv4
	if ap.Addr().Is6() {
		proto = proxyproto.TCPv6
	}
	dst := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 80), Port: 80}
	if ap.Addr().Is6() {
		dst = &net.TCPAddr{IP: net.ParseIP("2001:db8::80"), Port: 80}
	}
	h := &proxyproto.Header{Version: v, Command: proxyproto.PROXY, TransportProtocol: proto,
		SourceAddr: net.TCPAddrFromAddrPort(ap), DestinationAddr: dst}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxyProtocol: a PROXY v1 or v2 header's source address is the
// client a handler and a per-client limit see (two sources, two buckets);
// a connection without a header gets no answer; with TrustedProxies, a
// peer outside them is closed, and a trusted PROXY source's X-Forwarded-For
// is walked.
func TestProxyProtocol(t *testing.T) {
	sm := quietManager(t)
	lim := &RateLimitConfig{Enabled: true, RequestsPerSecond: 0.01, BurstSize: 1, Key: KeyClientIP}
	if err := sm.RegisterHost("lim.test", HostConfig{RateLimits: lim}); err != nil {
		t.Fatal(err)
	}
	_, open := start(t, sm, ServerConfig{ProxyProtocol: true, ReadTimeout: 2 * time.Second}, whoRouter())

	// A handler sees the header's source, v1 and v2, IPv4 and IPv6.
	for _, tt := range []struct {
		v   byte
		src string
	}{{1, "203.0.113.7:5555"}, {2, "198.51.100.8:6666"}, {2, "[2001:db8::9]:7777"}, {1, "[2001:db8::a]:8888"}} {
		resp, err := proxyGet(t, "127.0.0.1", open, proxyHeader(t, tt.v, tt.src), "other.test")
		if err != nil {
			t.Fatalf("v%d from %s: %v", tt.v, tt.src, err)
		}
		ap := netip.MustParseAddrPort(tt.src)
		if want := ap.String() + " " + ap.Addr().String(); string(resp.Body()) != want {
			t.Errorf("v%d: handler saw %q, want %q", tt.v, resp.Body(), want)
		}
	}
	// Two sources, two buckets: each has its burst of one.
	for _, tt := range []struct {
		v    byte
		src  string
		want int
	}{{1, "203.0.113.1:1000", 200}, {2, "203.0.113.1:1001", 429}, {2, "203.0.113.2:1002", 200}, {1, "203.0.113.2:1003", 429}} {
		resp, err := proxyGet(t, "127.0.0.1", open, proxyHeader(t, tt.v, tt.src), "lim.test")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != tt.want {
			t.Errorf("limit, v%d from %s: %d, want %d", tt.v, tt.src, resp.StatusCode(), tt.want)
		}
	}
	// No header, or a broken one: closed without an answer.
	for _, hdr := range [][]byte{nil, []byte("PROXY TCP4 1.2.3.4\r\n")} {
		if resp, err := proxyGet(t, "127.0.0.1", open, hdr, "other.test"); err == nil {
			t.Errorf("header %q: answered %d, want the connection closed", hdr, resp.StatusCode())
		}
	}

	// With trusted proxies, only they may connect.
	_, trusted := start(t, sm, ServerConfig{ProxyProtocol: true, TrustedProxies: prefixes(t, "127.0.0.2/32", "10.0.0.0/8")}, whoRouter())
	if resp, err := proxyGet(t, "127.0.0.1", trusted, proxyHeader(t, 1, "203.0.113.7:5555"), "other.test"); err == nil {
		t.Errorf("untrusted peer: answered %d, want the connection closed", resp.StatusCode())
	}
	resp, err := proxyGet(t, "127.0.0.2", trusted, proxyHeader(t, 2, "203.0.113.7:5555"), "other.test")
	if err != nil || string(resp.Body()) != "203.0.113.7:5555 203.0.113.7" {
		t.Errorf("trusted peer: %v %q", err, resp)
	}
	// A PROXY source that is itself trusted: its X-Forwarded-For counts.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.Dial("tcp", trusted)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := append(proxyHeader(t, 1, "10.1.1.1:4000"), "GET / HTTP/1.1\r\nHost: other.test\r\nX-Forwarded-For: 198.51.100.3\r\nConnection: close\r\n\r\n"...)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var r fasthttp.Response
	if err := r.Read(bufio.NewReader(c)); err != nil || string(r.Body()) != "198.51.100.3:0 198.51.100.3" {
		t.Errorf("trusted PROXY source with XFF: %v %q", err, r.Body())
	}
}

// TestProxyProtocolTLS: on a TLS listener the PROXY header comes before
// the handshake, for HTTP/1.1 and h2 alike.
func TestProxyProtocolTLS(t *testing.T) {
	certFile, keyFile, pool := devPair(t, "a.test")
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true, ProxyProtocol: true})
	s.SetRouter(whoRouter())
	addr := listenTLS(t, s, certFile, keyFile)
	for _, proto := range []string{"http/1.1", "h2"} {
		tr := &http.Transport{ForceAttemptHTTP2: proto == "h2"}
		tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			if _, err := c.Write(proxyHeader(t, 2, "203.0.113.44:4444")); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, NextProtos: []string{proto}}
		if proto == "http/1.1" {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := cl.Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if wantProto := map[string]int{"http/1.1": 1, "h2": 2}[proto]; resp.ProtoMajor != wantProto {
			t.Errorf("%s: served as %s", proto, resp.Proto)
		}
		if string(b) != "203.0.113.44:4444 203.0.113.44" {
			t.Errorf("%s: handler saw %q", proto, b)
		}
	}
}

// TestRealIPConfig: invalid trusted proxies or header names fail Listen,
// and servers sharing a port must agree on them.
func TestRealIPConfig(t *testing.T) {
	sm := quietManager(t)
	for _, cfg := range []ServerConfig{
		{TrustedProxies: []netip.Prefix{{}}},
		{RealIPHeader: "X-Real-IP"},
	} {
		s := sm.NewServer(cfg)
		if err := s.Listen("127.0.0.1:0"); !errors.Is(err, ErrInvalidTrustedProxies) {
			t.Errorf("%+v: Listen = %v, want ErrInvalidTrustedProxies", cfg, err)
		}
	}
	a := sm.NewServer(ServerConfig{})
	a.SetRouter(okRouter("a.test"))
	errc := make(chan error, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	go func() { errc <- a.Listen(addr) }()
	waitListening(t, a, errc)
	b := sm.NewServer(ServerConfig{ProxyProtocol: true})
	b.SetRouter(okRouter("b.test"))
	if err := b.Listen(addr); !errors.Is(err, ErrInvalidTrustedProxies) {
		t.Errorf("second server with the PROXY protocol on a shared port: %v, want ErrInvalidTrustedProxies", err)
	}
}

// TestParseHop: the address forms of X-Forwarded-For and Forwarded.
func TestParseHop(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1:0", "192.0.2.1:80": "192.0.2.1:80", "2001:db8::1": "[2001:db8::1]:0",
		"[2001:db8::1]": "[2001:db8::1]:0", "[2001:db8::1]:443": "[2001:db8::1]:443",
		"::ffff:192.0.2.1": "192.0.2.1:0", "[::ffff:192.0.2.1]:1": "192.0.2.1:1",
		"": "", "192.0.2": "", "192.0.2.256": "", "192.0.2.01": "", "192.0.2.1:": "", "192.0.2.1:65536": "",
		"192.0.2.1x": "", "[2001:db8::1": "", "[2001:db8::1]x": "", "[192.0.2.1]": "", "fe80::1%eth0": "",
		"unknown": "", "_hidden": "", "2001:db8::1:80:": "",
	} {
		ap, ok := parseHop([]byte(in))
		got := ""
		if ok {
			got = ap.String()
		}
		if got != want {
			t.Errorf("parseHop(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProxyProtocolH2C: cleartext HTTP/2 by prior knowledge follows the
// PROXY header on a plain listener.
func TestProxyProtocolH2C(t *testing.T) {
	sm := quietManager(t)
	_, addr := start(t, sm, ServerConfig{EnableHTTP2: true, ProxyProtocol: true}, whoRouter())
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true) // prior knowledge: HTTP/2 from the first byte
	tr := &http.Transport{Protocols: &protos, DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(proxyHeader(t, 1, "198.51.100.55:5555")); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "198.51.100.55:5555 198.51.100.55" {
		t.Errorf("h2c: %s %q", resp.Proto, b)
	}
}
