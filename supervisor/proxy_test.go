package supervisor_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// proxyUpstream is an upstream server for a proxy host: "/" answers its
// name, "/slow" after a while, "/health" with a status the test sets.
type proxyUpstream struct {
	name   string
	srv    *httptest.Server
	hits   atomic.Int64
	slow   atomic.Int64 // requests for /slow, counted as they begin
	health atomic.Int64 // health check requests
	status atomic.Int32 // of /health; 0: 200
}

func newProxyUpstream(t *testing.T, name string) *proxyUpstream {
	u := &proxyUpstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			u.health.Add(1)
			if s := u.status.Load(); s != 0 {
				w.WriteHeader(int(s))
			}
			return
		case "/slow":
			u.slow.Add(1)
			time.Sleep(time.Second)
		}
		u.hits.Add(1)
		io.WriteString(w, u.name)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *proxyUpstream) addr() string { return u.srv.Listener.Addr().String() }

// proxyConfig is a master config with one proxy host over upstreams,
// health-checked every 100ms.
func proxyConfig(workers int, upstreams ...*proxyUpstream) string {
	var list []string
	for _, u := range upstreams {
		list = append(list, fmt.Sprintf("%q", u.addr()))
	}
	return configHead(workers, "debug", "") + fmt.Sprintf(`
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "proxy.test"
proxy = { upstreams = [%s], health_path = "/health", health_interval = "100ms", fail_timeout = "1s" }
`, strings.Join(list, ", "))
}

// metrics returns the admin endpoint's /metrics.
func (m *master) metrics() string {
	m.t.Helper()
	resp, err := http.Get("http://" + m.admin + "/metrics")
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// answers sends n requests to the proxy host and counts them by answer.
func (m *master) answers(n int) map[string]int {
	m.t.Helper()
	out := map[string]int{}
	for range n {
		code, body, err := m.get("proxy.test", "/")
		if err != nil || code != 200 {
			m.t.Fatalf("GET proxy.test: %d %q %v", code, body, err)
		}
		out[body]++
	}
	return out
}

// The master checks the upstreams once for all workers and tells them:
// an upstream that fails its check gets no requests from any worker, and
// gets them again once it passes.
func TestProxySupervisedHealthChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	a, b := newProxyUpstream(t, "a"), newProxyUpstream(t, "b")
	m := startMaster(t, proxyConfig(3, a, b))
	m.waitWorkers(3, 10*time.Second)
	if got := m.answers(20); got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("answers %v: want both upstreams", got)
	}

	// One probe per interval, not one per worker.
	a0 := a.health.Load()
	time.Sleep(time.Second)
	if n := a.health.Load() - a0; n < 5 || n > 15 {
		t.Errorf("a got %d health checks in 1s at a 100ms interval with 3 workers; want about 10", n)
	}

	a.status.Store(503)
	m.logs.wait(t, "upstream failed its health check; out of rotation", 5*time.Second)
	waitFor(t, "no worker sending to a", 5*time.Second, func() bool {
		return m.answers(12)["a"] == 0
	})
	waitFor(t, "rockstar_upstream_up 0 for a", 5*time.Second, func() bool {
		return strings.Contains(m.metrics(), fmt.Sprintf("rockstar_upstream_up{host=\"proxy.test\",upstream=%q} 0", a.addr()))
	})

	a.status.Store(0)
	m.logs.wait(t, "upstream passed its health check; back in rotation", 5*time.Second)
	waitFor(t, "a back", 5*time.Second, func() bool { return m.answers(12)["a"] > 0 })

	text := m.metrics()
	for _, want := range []string{
		fmt.Sprintf("rockstar_upstream_up{host=\"proxy.test\",upstream=%q} 1", a.addr()),
		fmt.Sprintf("rockstar_upstream_requests_total{host=\"proxy.test\",upstream=%q,code=\"200\"}", b.addr()),
		fmt.Sprintf("rockstar_upstream_response_seconds_count{host=\"proxy.test\",upstream=%q}", a.addr()),
		"# TYPE rockstar_upstream_response_seconds histogram",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A reload changes the upstreams in place under load: no request fails,
// a request in flight on the removed upstream finishes, the new upstream
// takes requests, and the counters of the removed one stay.
func TestProxySupervisedReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	a, b, c := newProxyUpstream(t, "a"), newProxyUpstream(t, "b"), newProxyUpstream(t, "c")
	m := startMaster(t, proxyConfig(2, a, b))
	pids := m.waitWorkers(2, 10*time.Second)
	stop := load(t, m.addr, "proxy.test", 8, 60*time.Second)
	waitFor(t, "the load to reach both upstreams", 10*time.Second, func() bool {
		return a.hits.Load() >= 20 && b.hits.Load() >= 20
	})

	// Slow requests in flight, one at least on a, while a is removed.
	slow := make(chan string, 64)
	sent := 0
	for a.slow.Load() == 0 {
		if sent == cap(slow) {
			t.Fatal("no slow request reached a")
		}
		sent++
		go func() {
			code, body, err := m.get("proxy.test", "/slow")
			if err != nil || code != 200 {
				body = fmt.Sprintf("failed: %d %v", code, err)
			}
			slow <- body
		}()
		time.Sleep(20 * time.Millisecond)
	}
	m.writeConfig(proxyConfig(2, b, c))
	m.signal(syscall.SIGHUP)
	m.logs.wait(t, "reloaded", 10*time.Second)
	onA := 0
	for range sent {
		switch got := <-slow; got {
		case "a":
			onA++
		case "b":
		default:
			t.Errorf("slow request during the reload: %s", got)
		}
	}
	if onA == 0 {
		t.Error("the slow request on a did not finish there")
	}
	waitFor(t, "c to take requests", 5*time.Second, func() bool { return c.hits.Load() > 20 })
	aHits, cHits := a.hits.Load(), c.hits.Load()
	waitFor(t, "c to take 100 more requests", 5*time.Second, func() bool { return c.hits.Load() > cHits+100 })
	if n := a.hits.Load() - aHits; n != 0 {
		t.Errorf("a got %d requests after it was removed", n)
	}
	// An upstream dying under load costs no request either.
	b.srv.CloseClientConnections()
	b.srv.Listener.Close()
	cHits = c.hits.Load()
	waitFor(t, "c to take 200 more requests after b died", 10*time.Second, func() bool { return c.hits.Load() > cHits+200 })
	res := stop()
	t.Logf("reload under load: %s", res)
	if res.OK.Load() == 0 || res.failures() != 0 {
		t.Fatalf("%d failed requests: %s", res.failures(), res)
	}
	if got := m.waitWorkers(2, 5*time.Second); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("workers %v after an in-place reload, want the same %v", got, pids)
	}
	text := m.metrics()
	if !strings.Contains(text, fmt.Sprintf("rockstar_upstream_requests_total{host=\"proxy.test\",upstream=%q,code=\"200\"}", a.addr())) {
		t.Errorf("/metrics lost the removed upstream's counts:\n%s", text)
	}
	if strings.Contains(text, fmt.Sprintf("rockstar_upstream_up{host=\"proxy.test\",upstream=%q}", a.addr())) {
		t.Errorf("/metrics still lists the removed upstream as up or down")
	}
}
