package worker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// getFrom sends a request with the given Host from local address ip and
// returns its status and Retry-After.
func getFrom(t *testing.T, ip, addr, host string) (int, string) {
	t.Helper()
	resp, _ := requestFrom(t, ip, addr, host)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// requestFrom sends GET / for host to addr on a connection of its own from
// local address ip, with extra header lines (name, value pairs; a name may
// repeat), and returns the answer and its whole body.
func requestFrom(t testing.TB, ip, addr, host string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			return d.DialContext(ctx, network, a)
		},
	}}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET from %s: %v", ip, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET from %s: reading the body: %v", ip, err)
	}
	return resp, b
}

func okRouter(hosts ...string) *Router {
	r := NewRouter()
	for _, h := range hosts {
		r.Host(h).GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	}
	return r
}

// TestPerClientLimit: with Key = client_ip every client address has its
// own bucket, and a refusal is a 429 with Retry-After, for a host limit and
// for a tenant's.
func TestPerClientLimit(t *testing.T) {
	sm := quietManager(t)
	perClient := &RateLimitConfig{Enabled: true, RequestsPerSecond: 0.5, BurstSize: 2, Key: KeyClientIP, Size: 64}
	if err := sm.RegisterHost("a.test", HostConfig{RateLimits: perClient}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("b.test", HostConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterTenantConfig(TenantConfig{ID: "t", Hosts: []string{"b.test"}, RateLimits: perClient}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, okRouter("a.test", "b.test"))
	for _, host := range []string{"a.test", "b.test"} {
		for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
			for i := range 2 {
				if code, _ := getFrom(t, ip, addr, host); code != 200 {
					t.Fatalf("%s from %s, request %d of the burst: %d", host, ip, i, code)
				}
			}
			code, retry := getFrom(t, ip, addr, host)
			if code != 429 || retry != "2" {
				t.Fatalf("%s from %s past its burst: %d, Retry-After %q; want 429, 2", host, ip, code, retry)
			}
		}
		// A third client still has its whole burst.
		if code, _ := getFrom(t, "127.0.0.3", addr, host); code != 200 {
			t.Fatalf("%s from a third client: %d", host, code)
		}
	}
	snap := sm.Metrics()
	if n := snap.Hosts["a.test"].RateLimited; n != 2 {
		t.Errorf("a.test counted %d refusals, want 2", n)
	}
}

// keyOnly is a LimiterFactory that knows nothing of keys.
type keyOnly struct{}

func (keyOnly) Allow(time.Time) (bool, time.Duration) { return true, 0 }

// TestPerClientLimitWithPlainFactory: a factory whose limiters are not
// keyed still gives per-client limits, in process.
func TestPerClientLimitWithPlainFactory(t *testing.T) {
	sm := quietManager(t)
	sm.SetLimiterFactory(func(LimiterKey, RateLimitConfig) Limiter { return keyOnly{} })
	cfg := &RateLimitConfig{Enabled: true, RequestsPerSecond: 0.5, BurstSize: 1, Key: KeyClientIP}
	if err := sm.RegisterHost("a.test", HostConfig{RateLimits: cfg}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, okRouter("a.test"))
	if code, _ := getFrom(t, "127.0.0.1", addr, "a.test"); code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if code, _ := getFrom(t, "127.0.0.1", addr, "a.test"); code != 429 {
		t.Fatalf("second request: %d, want 429", code)
	}
}

func TestPerClientLimitValidation(t *testing.T) {
	sm := quietManager(t)
	for _, cfg := range []RateLimitConfig{
		{Enabled: true, RequestsPerSecond: 1, Key: "header"},
		{Enabled: true, RequestsPerSecond: 1, Key: KeyClientIP, Size: -1},
		{Enabled: true, RequestsPerSecond: 1, Key: KeyClientIP, Size: MaxClientTableSize + 1},
		{Enabled: true, RequestsPerSecond: 1, Key: KeyClientIP, IPv6Prefix: 60},
		{Enabled: true, RequestsPerSecond: 1, Key: KeyClientIP, IPv6Prefix: 40},
		{Enabled: true, RequestsPerSecond: 1, Key: KeyClientIP, IPv6Prefix: 136},
		{Enabled: true, RequestsPerSecond: 1, Key: KeyClientIP, IPv6Prefix: -64},
	} {
		if err := sm.RegisterHost("a.test", HostConfig{RateLimits: &cfg}); !errors.Is(err, ErrInvalidRateLimit) {
			t.Errorf("%+v: %v, want ErrInvalidRateLimit", cfg, err)
		}
	}
}

// TestClientKey: IPv4 keys are 4 bytes, whichever socket family they came
// in on; IPv6 keys are the address's prefix, 8 bytes by default.
func TestClientKey(t *testing.T) {
	for _, tt := range []struct {
		ip     string
		prefix int
		want   string // the key as an address, zero-padded
	}{
		{"192.0.2.1", 0, "192.0.2.1"},
		{"::ffff:192.0.2.1", 0, "192.0.2.1"},
		{"192.0.2.1", 48, "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::"},
		{"2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::"},
		{"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::"},
	} {
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(tt.ip), Port: 1}, nil)
		got := clientKey(ctx, v6KeyBytes(RateLimitConfig{IPv6Prefix: tt.prefix}))
		want := net.ParseIP(tt.want)
		if v4 := want.To4(); v4 != nil {
			want = v4
		}
		padded := make(net.IP, len(want))
		copy(padded, got)
		if want.To4() == nil {
			wantLen := tt.prefix / 8
			if tt.prefix == 0 {
				wantLen = DefaultIPv6Prefix / 8
			}
			if len(got) != wantLen {
				t.Errorf("clientKey(%s) /%d: %d bytes, want %d", tt.ip, tt.prefix, len(got), wantLen)
			}
		}
		if !padded.Equal(want) {
			t.Errorf("clientKey(%s) /%d = %v, want %v", tt.ip, tt.prefix, padded, want)
		}
	}
}

// IPv6 clients of one /64 share a per-client bucket by default, so that
// rotating addresses inside it gets no fresh bucket; IPv6Prefix 128 gives
// every address its own, and another /64 is another client.
func TestPerClientLimitIPv6Prefix(t *testing.T) {
	for _, tt := range []struct {
		prefix int
		ips    []string
		want   []int
	}{
		{0, []string{"2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff::9"}, []int{200, 429, 429}},
		{0, []string{"2001:db8:0:1::1", "2001:db8:0:2::1"}, []int{200, 200}},
		{128, []string{"2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1::1"}, []int{200, 200, 429}},
		{48, []string{"2001:db8:0:1::1", "2001:db8:0:2::1", "2001:db8:1::1"}, []int{200, 429, 200}},
		{0, []string{"192.0.2.1", "192.0.2.2", "::ffff:192.0.2.1"}, []int{200, 200, 429}},
	} {
		sm := quietManager(t)
		cfg := &RateLimitConfig{Enabled: true, RequestsPerSecond: 0.001, BurstSize: 1, Key: KeyClientIP, IPv6Prefix: tt.prefix}
		if err := sm.RegisterHost("a.test", HostConfig{RateLimits: cfg}); err != nil {
			t.Fatal(err)
		}
		serve := keyedServe(sm, okRouter("a.test"))
		var got []int
		for _, ip := range tt.ips {
			ctx := keyedCtx("a.test", ip)
			serve(ctx)
			got = append(got, ctx.Response.StatusCode())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("/%d %v: got %v, want %v", tt.prefix, tt.ips, got, tt.want)
		}
	}
}

// TestCounterAllocator: a manager with an allocator counts into the
// memory it hands out, and asks once per series.
func TestCounterAllocator(t *testing.T) {
	sm := quietManager(t)
	arena := make([]Counters, 8)
	asked := map[SeriesKey]int{}
	sm.SetCounterAllocator(func(k SeriesKey) *Counters {
		asked[k]++
		if k.Host == DefaultHost {
			return nil // the manager's own
		}
		return &arena[len(asked)-1]
	})
	if err := sm.RegisterHost("a.test", HostConfig{TenantID: "t"}); err != nil {
		t.Fatal(err)
	}
	s, addr := start(t, sm, ServerConfig{}, okRouter("a.test"))
	for range 3 {
		if code, _ := get(t, addr, "a.test", "/"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if code, _ := get(t, addr, "other.test", "/"); code != 404 {
		t.Fatalf("unknown host: %d", code)
	}
	k := SeriesKey{Server: s.Addr(), Host: "a.test", Tenant: "t"}
	if asked[k] != 1 {
		t.Fatalf("asked %v, want %v once", asked, k)
	}
	var inArena Stats
	for i := range arena {
		inArena.Add(arena[i].Stats())
	}
	if inArena.Requests != 3 || inArena.Status[1] != 3 {
		t.Fatalf("the supplied counters hold %+v, want 3 requests of class 2xx", inArena)
	}
	snap := sm.Metrics()
	if snap.Series[k].Requests != 3 || snap.Hosts[DefaultHost].Requests != 1 {
		t.Fatalf("Metrics: %+v", snap.Series)
	}
}

// keyedServe returns the request path of a fresh server of sm, as a
// binding runs it, without a socket.
func keyedServe(sm ServerManager, r *Router) fasthttp.RequestHandler {
	s := sm.NewServer(ServerConfig{})
	s.SetRouter(r)
	m := sm.(*serverManager)
	b := &binding{addr: "keyed-under-test", members: []*server{s.(*server)}}
	m.mu.Lock()
	m.rebuildBindingLocked(b)
	m.mu.Unlock()
	return b.serve
}

func keyedCtx(host, ip string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, nil)
	wire := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(wire))); err != nil {
		panic(err)
	}
	return ctx
}

// BenchmarkPerClientLimit is the request path of a host with a per-client
// limit that never refuses, from 4096 clients.
func BenchmarkPerClientLimit(b *testing.B) {
	sm := NewServerManager()
	cfg := &RateLimitConfig{Enabled: true, RequestsPerSecond: 1e9, BurstSize: 1 << 30, Key: KeyClientIP, Size: 1 << 16}
	if err := sm.RegisterHost("a.test", HostConfig{RateLimits: cfg}); err != nil {
		b.Fatal(err)
	}
	serve := keyedServe(sm, okRouter("a.test"))
	ctxs := make([]*fasthttp.RequestCtx, 4096)
	for i := range ctxs {
		ctxs[i] = keyedCtx("a.test", net.IPv4(10, 0, byte(i>>8), byte(i)).String())
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ctx := ctxs[i%len(ctxs)]
		ctx.Response.Reset()
		serve(ctx)
	}
}
