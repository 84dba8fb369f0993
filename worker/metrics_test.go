package worker

import (
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func latencyCount(h Histogram) uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

func TestMetricsCounts(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	a := r.Host("a.test")
	a.GET("/", text("hello"))
	a.GET("/boom", func(*fasthttp.RequestCtx) { panic("boom") })
	a.GET("/slow", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(60 * time.Millisecond)
		ctx.SetBodyString("slow")
	})
	a.POST("/echo", func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.PostBody()) })
	a.GET("/moved", func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusNotModified) })
	r.Host("b.test").GET("/", text("bee"))
	for _, h := range []string{"a.test", "b.test"} {
		if err := sm.RegisterHost(h, HostConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sm.RegisterTenantConfig(TenantConfig{ID: "t", Hosts: []string{"b.test"},
		RateLimits: &RateLimitConfig{Enabled: true, RequestsPerSecond: slowRate, BurstSize: 1}}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, r)

	before := sm.Metrics()
	// What the client reads, per host, to compare with the server's counts.
	bodyBytes := map[string]uint64{}
	send := func(method, host, path, body string, want int) {
		t.Helper()
		code, got := do(t, method, addr, host, path, strings.NewReader(body))
		if code != want {
			t.Fatalf("%s %s%s = %d, want %d", method, host, path, code, want)
		}
		bodyBytes[host] += uint64(len(got))
	}
	for range 3 {
		send("GET", "a.test", "/", "", 200)
	}
	send("GET", "a.test", "/missing", "", 404)
	send("DELETE", "a.test", "/", "", 405)
	send("GET", "a.test", "/boom", "", 500)
	send("GET", "a.test", "/slow", "", 200)
	send("GET", "a.test", "/moved", "", 304)
	send("POST", "a.test", "/echo", strings.Repeat("x", 1000), 200)
	send("GET", "b.test", "/", "", 200)
	send("GET", "b.test", "/", "", 429)
	send("GET", "other.test", "/", "", 200)

	m := sm.Metrics()
	tests := []struct {
		name        string
		got         Stats
		requests    uint64
		status      [6]uint64
		rateLimited uint64
		bytesOut    uint64
	}{
		{"server", m.Servers[addr], 12, [6]uint64{0, 7, 1, 3, 1, 0}, 1, bodyBytes["a.test"] + bodyBytes["b.test"] + bodyBytes["other.test"]},
		{"host a", m.Hosts["a.test"], 9, [6]uint64{0, 5, 1, 2, 1, 0}, 0, bodyBytes["a.test"]},
		{"host b", m.Hosts["b.test"], 2, [6]uint64{0, 1, 0, 1, 0, 0}, 1, bodyBytes["b.test"]},
		{"default host", m.Hosts[DefaultHost], 1, [6]uint64{0, 1, 0, 0, 0, 0}, 0, bodyBytes["other.test"]},
		{"tenant t", m.Tenants["t"], 2, [6]uint64{0, 1, 0, 1, 0, 0}, 1, bodyBytes["b.test"]},
		{"series", m.Series[SeriesKey{Server: addr, Host: "b.test", Tenant: "t"}], 2, [6]uint64{0, 1, 0, 1, 0, 0}, 1, bodyBytes["b.test"]},
	}
	for _, tt := range tests {
		g := tt.got
		if g.Requests != tt.requests || g.Status != tt.status || g.RateLimited != tt.rateLimited || g.BytesOut != tt.bytesOut {
			t.Errorf("%s: requests %d status %v limited %d out %d, want %d %v %d %d",
				tt.name, g.Requests, g.Status, g.RateLimited, g.BytesOut, tt.requests, tt.status, tt.rateLimited, tt.bytesOut)
		}
		if n := latencyCount(g.Latency); n != g.Requests {
			t.Errorf("%s: latency histogram counts %d, want %d", tt.name, n, g.Requests)
		}
		if g.Active != 0 && tt.name != "server" {
			t.Errorf("%s: %d requests in flight after all were answered", tt.name, g.Active)
		}
	}
	ha := m.Hosts["a.test"]
	if ha.BytesIn < 1000 {
		t.Errorf("host a: bytes in %d, want at least the 1000-byte body", ha.BytesIn)
	}
	if ha.Latency.Sum < 60*time.Millisecond {
		t.Errorf("host a: latency sum %s, want at least the slow handler's 60ms", ha.Latency.Sum)
	}
	var slow uint64 // requests slower than 50ms
	for i, b := range LatencyBounds {
		if b > 50*time.Millisecond {
			slow += ha.Latency.Counts[i]
		}
	}
	slow += ha.Latency.Counts[len(LatencyBounds)]
	if slow < 1 {
		t.Errorf("host a: histogram %v has no request above 50ms", ha.Latency.Counts)
	}
	if _, ok := m.Tenants[""]; ok {
		t.Error("requests without a tenant are counted under tenant \"\"")
	}

	// A snapshot is a copy: later requests do not change it.
	send("GET", "a.test", "/", "", 200)
	if got := m.Hosts["a.test"].Requests; got != 9 {
		t.Errorf("an old snapshot changed to %d requests", got)
	}
	if got := sm.Metrics().Hosts["a.test"].Requests; got != 10 {
		t.Errorf("a new snapshot has %d requests, want 10", got)
	}
	if before.Hosts["a.test"].Requests != 0 {
		t.Errorf("the first snapshot counted %d requests", before.Hosts["a.test"].Requests)
	}
}

func TestMetricsSnapshotsAdd(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.Host("a.test").GET("/", text("hello"))
	_, addr := start(t, sm, ServerConfig{}, r)
	for range 3 {
		get(t, addr, "a.test", "/")
	}
	one := sm.Metrics()

	sum := NewMetricsSnapshot()
	sum.Add(one)
	sum.Add(one)
	if !reflect.DeepEqual(sum.Series[SeriesKey{Server: addr, Host: "a.test"}], double(one.Series[SeriesKey{Server: addr, Host: "a.test"}])) {
		t.Errorf("series: sum %+v, want twice %+v", sum.Series, one.Series)
	}
	for name, pair := range map[string][2]Stats{
		"server": {sum.Servers[addr], one.Servers[addr]},
		"host":   {sum.Hosts["a.test"], one.Hosts["a.test"]},
	} {
		if !reflect.DeepEqual(pair[0], double(pair[1])) {
			t.Errorf("%s: sum %+v, want twice %+v", name, pair[0], pair[1])
		}
	}
	if sum.Hosts["a.test"].Requests != 6 {
		t.Errorf("sum of two snapshots has %d requests, want 6", sum.Hosts["a.test"].Requests)
	}
	// Adding into a snapshot that Metrics returned works as well.
	other := sm.Metrics()
	other.Add(one)
	if got := other.Hosts["a.test"].Requests; got != 6 {
		t.Errorf("Metrics().Add: %d requests, want 6", got)
	}
}

func double(s Stats) Stats {
	d := s
	d.Add(s)
	return d
}

func TestMetricsActiveConnections(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("ok"))
	_, addr := start(t, sm, ServerConfig{}, r)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	active := func() int64 { return sm.Metrics().Servers[addr].Active }
	waitFor(t, "3 active connections", 5*time.Second, func() bool { return active() == 3 })
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "no active connections", 5*time.Second, func() bool { return active() == 0 })
}

// Requests refused before a handler ran (413, 431, 400) count too: under
// their host when the headers were read, else under the default.
func TestMetricsCountRefusedRequests(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.Host("a.test").POST("/", text("ok"))
	_, addr := start(t, sm, ServerConfig{MaxRequestSize: 100, MaxHeaderBytes: 1024}, r)
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 101\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\nX-Pad: " + strings.Repeat("p", 2000) + "\r\n\r\n",
	} {
		if reply, _ := exchange(t, addr, req, 5*time.Second); statusOf(reply) != "413" && statusOf(reply) != "431" {
			t.Fatalf("reply %.60q, want 413 or 431", reply)
		}
	}
	m := sm.Metrics()
	if got := m.Hosts["a.test"].Status[3]; got != 1 {
		t.Errorf("host a.test: %d 4xx, want the 413", got)
	}
	if got := m.Hosts[DefaultHost].Status[3]; got != 1 {
		t.Errorf("default host: %d 4xx, want the 431", got)
	}
	if s := m.Servers[addr]; s.Requests != 2 || latencyCount(s.Latency) != 2 {
		t.Errorf("server: %d requests, %d in the histogram, want 2", s.Requests, latencyCount(s.Latency))
	}
}

// A cell counts each status code exactly, under concurrent requests,
// up to codeSlots distinct codes; the rest count by class, and Stats'
// classes agree with the codes.
func TestCellCodes(t *testing.T) {
	var c cell
	codes := []int{200, 404, 500, 301, 232, 204} // 200 and 232 share a first slot
	const per = 1000
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range per {
				c.record(codes[(g+i)%len(codes)], 0, 0, 0)
			}
		})
	}
	wg.Wait()
	got := make(map[int]uint64)
	c.addCodes(got)
	var total uint64
	for _, code := range codes {
		total += got[code]
	}
	if total != 8*per || len(got) != len(codes) {
		t.Fatalf("codes %v: %d requests, want %d in %d codes", got, total, 8*per, len(codes))
	}
	want := make(map[int]uint64)
	for g := range 8 {
		for i := range per {
			want[codes[(g+i)%len(codes)]]++
		}
	}
	for _, code := range codes {
		if got[code] != want[code] {
			t.Errorf("code %d counted %d times, want %d", code, got[code], want[code])
		}
	}

	// More distinct codes than slots, and codes outside 100-599.
	var o cell
	for code := 200; code < 200+codeSlots+8; code++ {
		o.record(code, 0, 0, 0)
	}
	o.record(99, 0, 0, 0)
	o.record(600, 0, 0, 0)
	got = make(map[int]uint64)
	o.addCodes(got)
	st := o.stats()
	if st.Requests != codeSlots+10 || st.Status[1] != codeSlots+8 || st.Status[5] != 2 || st.Active != 0 {
		t.Errorf("stats %+v", st)
	}
	if got[2] != 8 || got[0] != 2 || len(got) != codeSlots+2 {
		t.Errorf("codes %v: want %d codes one by one, 8 more as 2xx (key 2), 2 outside (key 0)", got, codeSlots)
	}
}
