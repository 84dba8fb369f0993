package worker

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// A rate this slow refills nothing during a test, so the counts below do
// not depend on how fast the machine is.
const slowRate = 0.05 // one request per 20 s

// codes sends GET / to each host in turn and returns the status codes and
// the Retry-After values.
func codes(t *testing.T, addr string, hosts ...string) ([]int, []string) {
	t.Helper()
	var cs []int
	var ras []string
	for _, h := range hosts {
		code, _, hdr := doHeader(t, "GET", addr, h, "/", nil)
		cs = append(cs, code)
		ras = append(ras, hdr.Get("Retry-After"))
	}
	return cs, ras
}

func checkCodes(t *testing.T, what string, got, want []int, retry []string) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: request %d = %d, want %d (all: %v)", what, i, got[i], want[i], got)
			continue
		}
		if got[i] == 429 {
			n, err := strconv.Atoi(retry[i])
			if err != nil || n < 1 || n > 21 {
				t.Errorf("%s: request %d: 429 with Retry-After %q, want whole seconds in [1, 21]", what, i, retry[i])
			}
		} else if retry[i] != "" {
			t.Errorf("%s: request %d: %d with Retry-After %q", what, i, got[i], retry[i])
		}
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestHostRateLimit(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	for _, h := range []string{"limited.test", "cfg.test", "free.test", "off.test"} {
		r.Host(h).GET("/", text(h))
	}
	if err := sm.RegisterHost("limited.test", HostConfig{
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: slowRate, BurstSize: 3},
	}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("off.test", HostConfig{
		RateLimits: &RateLimitConfig{Enabled: false, RequestsPerSecond: slowRate, BurstSize: 1},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{HostConfigs: map[string]*HostConfig{
		"cfg.test": {RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: slowRate, BurstSize: 2}},
	}}
	_, addr := start(t, sm, cfg, r)

	got, ra := codes(t, addr, repeat("limited.test", 5)...)
	checkCodes(t, "registered host, burst 3", got, []int{200, 200, 200, 429, 429}, ra)
	got, ra = codes(t, addr, "cfg.test", "CFG.TEST:1234", "cfg.test")
	checkCodes(t, "HostConfigs host, burst 2", got, []int{200, 200, 429}, ra)
	got, ra = codes(t, addr, repeat("free.test", 10)...)
	checkCodes(t, "host without limit", got, repeat200(10), ra)
	got, ra = codes(t, addr, repeat("off.test", 5)...)
	checkCodes(t, "disabled limit", got, repeat200(5), ra)
	got, ra = codes(t, addr, repeat("unknown.test", 5)...)
	checkCodes(t, "default host", got, repeat200(5), ra)
}

func repeat200(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 200
	}
	return out
}

func TestHostRateLimitRefills(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.Host("fast.test").GET("/", text("ok"))
	if err := sm.RegisterHost("fast.test", HostConfig{
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: 2, BurstSize: 1},
	}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, r)
	var sawLimit bool
	for range 20 {
		code, _ := get(t, addr, "fast.test", "/")
		sawLimit = sawLimit || code == 429
	}
	if !sawLimit {
		t.Fatal("20 back-to-back requests at 2/s with burst 1 were never limited")
	}
	// At 2 per second the bucket refills well within the bound.
	waitFor(t, "the bucket to refill", 5*time.Second, func() bool {
		code, _ := get(t, addr, "fast.test", "/")
		return code == 200
	})
}

func TestTenantSharedBudget(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	for _, h := range []string{"a.t1.test", "b.t1.test", "c.t2.test", "solo.t1.test"} {
		r.Host(h).GET("/", text(h))
	}
	for _, h := range []string{"a.t1.test", "b.t1.test", "c.t2.test"} {
		if err := sm.RegisterHost(h, HostConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sm.RegisterHost("solo.t1.test", HostConfig{
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: slowRate, BurstSize: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterTenantConfig(TenantConfig{
		ID: "t1", Hosts: []string{"a.t1.test", "b.t1.test", "solo.t1.test"},
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: slowRate, BurstSize: 5},
	}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterTenant("t2", []string{"c.t2.test"}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, r)

	// solo's own limit refuses its second request before the tenant's
	// budget is touched.
	got, ra := codes(t, addr, "solo.t1.test", "solo.t1.test")
	checkCodes(t, "host limit inside a tenant", got, []int{200, 429}, ra)
	// Four left in the tenant's budget of five, shared by a and b.
	got, ra = codes(t, addr, "a.t1.test", "b.t1.test", "a.t1.test", "b.t1.test", "a.t1.test", "b.t1.test")
	checkCodes(t, "tenant t1 shared budget", got, []int{200, 200, 200, 200, 429, 429}, ra)
	// Another tenant is not affected.
	got, ra = codes(t, addr, repeat("c.t2.test", 8)...)
	checkCodes(t, "tenant t2", got, repeat200(8), ra)

	// Unregistering the tenant lifts its limit at once; registering it again
	// brings it back.
	if err := sm.UnregisterTenant("t1"); err != nil {
		t.Fatal(err)
	}
	got, ra = codes(t, addr, "a.t1.test", "b.t1.test", "a.t1.test")
	checkCodes(t, "after UnregisterTenant", got, repeat200(3), ra)
	if err := sm.RegisterTenantConfig(TenantConfig{
		ID: "t1", Hosts: []string{"a.t1.test"},
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: slowRate, BurstSize: 1},
	}); err != nil {
		t.Fatal(err)
	}
	got, ra = codes(t, addr, "a.t1.test", "a.t1.test", "b.t1.test")
	checkCodes(t, "after RegisterTenantConfig", got, []int{200, 429, 200}, ra)
}

// denyAll is a Limiter that refuses everything, standing in for the
// supervisor's cross-process limiter.
type denyAll struct{ calls atomic.Int64 }

func (d *denyAll) Allow(time.Time) (bool, time.Duration) {
	d.calls.Add(1)
	return false, 2500 * time.Millisecond
}

func TestLimiterFactoryIsUsed(t *testing.T) {
	sm := quietManager(t)
	lim := &denyAll{}
	var keys []LimiterKey
	sm.SetLimiterFactory(func(k LimiterKey, _ RateLimitConfig) Limiter {
		keys = append(keys, k) // called under the manager's lock
		return lim
	})
	r := NewRouter()
	r.Host("x.test").GET("/", text("x"))
	if err := sm.RegisterHost("x.test", HostConfig{
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: 1000, BurstSize: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, r)
	code, _, h := doHeader(t, "GET", addr, "x.test", "/", nil)
	if code != 429 || h.Get("Retry-After") != "3" {
		t.Errorf("GET = %d Retry-After %q, want 429 and 3 (2.5 s rounded up)", code, h.Get("Retry-After"))
	}
	if lim.calls.Load() == 0 {
		t.Error("the factory's limiter was never asked")
	}
	if len(keys) == 0 || keys[0] != (LimiterKey{ScopeHost, "x.test"}) {
		t.Errorf("factory keys = %v, want the host's", keys)
	}
}

// A request whose clock reading predates its limiter (it was read just
// before a reload made a new one) is the limiter's first request, not a
// refusal.
func TestLocalLimiterRequestFromBeforeItsCreation(t *testing.T) {
	before := time.Now()
	lim := NewLocalLimiter(RateLimitConfig{Enabled: true, RequestsPerSecond: 1, BurstSize: 1})
	if ok, wait := lim.Allow(before.Add(-time.Millisecond)); !ok {
		t.Fatalf("first request refused, retry after %s", wait)
	}
	if ok, _ := lim.Allow(time.Now()); ok {
		t.Fatal("second request within the burst of 1 passed")
	}
}

// Limits at the edges of what the config allows neither wrap around nor
// refuse their burst: burst·interval once overflowed int64, so a fresh
// bucket refused its first request.
func TestLocalLimiterExtremeLimits(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
		try   int // requests sent at once; the first min(try, burst) pass
	}{
		{rate: 0.001, burst: 1<<31 - 1, try: 100},
		{rate: 1e-9, burst: 10, try: 11},
		{rate: 1e-300, burst: 3, try: 4},
		{rate: 1e9, burst: 1, try: 2},
	} {
		lim := NewLocalLimiter(RateLimitConfig{Enabled: true, RequestsPerSecond: tc.rate, BurstSize: tc.burst})
		now := time.Now()
		passed := 0
		for range tc.try {
			if ok, wait := lim.Allow(now); ok {
				passed++
			} else if wait <= 0 {
				t.Errorf("rate %g burst %d: refused with retry after %s", tc.rate, tc.burst, wait)
			}
		}
		if got, want := passed, min(tc.try, tc.burst); got != want {
			t.Errorf("rate %g burst %d: %d of %d passed at once, want %d", tc.rate, tc.burst, got, tc.try, want)
		}
	}
}

// A server whose HostConfigs hold an invalid limit does not start, instead
// of refusing every request of that host.
func TestServerHostConfigBadRateLimit(t *testing.T) {
	sm := quietManager(t)
	bad := map[string]*HostConfig{"x.test": {RateLimits: &RateLimitConfig{Enabled: true}}}
	s := sm.NewServer(ServerConfig{HostConfigs: bad})
	errc := make(chan error, 1)
	go func() { errc <- s.Listen("127.0.0.1:0") }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrInvalidRateLimit) {
			t.Errorf("Listen = %v, want ErrInvalidRateLimit", err)
		}
	case <-time.After(5 * time.Second):
		_ = s.Close()
		<-errc
		t.Error("Listen started a server with an invalid limit")
	}
	sm.NewServer(ServerConfig{Addr: "127.0.0.1:0", HostConfigs: bad})
	if err := sm.StartAll(); !errors.Is(err, ErrInvalidRateLimit) {
		t.Errorf("StartAll = %v, want ErrInvalidRateLimit", err)
	}
}
