package supervisor_test

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMetricsExactAcrossKill: the admin endpoint's /metrics adds up every
// worker, and after kill -9 of a worker under load the sum of
// rockstar_http_requests_total still equals the requests clients saw
// answered: the counters live in memory the master owns, and a request is
// counted before its response is written. The only requests that may be
// counted without an answer are those whose worker died between counting
// and writing; their clients saw an error.
func TestMetricsExactAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	m := startMaster(t, configText(2, "hello"))
	pids := m.waitWorkers(2, 10*time.Second)
	res, stop := hammer(t, m.addr, "POST", []string{"hello.test"}, 32, 20*time.Second)

	// A request answered before a scrape is counted in it.
	waitFor(t, "some answers", 20*time.Second, func() bool { return res.OK.Load() >= 1000 })
	answered := res.Answered()
	first := scrape(t, m.admin)
	if got := sum(first, "rockstar_http_requests_total", nil); got < float64(answered) {
		t.Fatalf("scrape counted %v requests, but %d were answered before it began", got, answered)
	}

	_ = syscall.Kill(pids[0], syscall.SIGKILL)
	waitFor(t, "the killed worker's replacement", 15*time.Second, func() bool {
		for _, w := range m.status().Workers {
			if w.Slot == 0 && w.PID != pids[0] && w.PID != pids[1] && w.State == "ready" {
				return true
			}
		}
		return false
	})
	before := res.OK.Load()
	waitFor(t, "answers after the restart", 20*time.Second, func() bool { return res.OK.Load() >= before+1000 })
	res = stop()
	if res.OK.Load() == 0 || res.Other.Load() > 0 || res.Limited.Load() > 0 {
		t.Fatalf("load: %v", res)
	}
	last := scrape(t, m.admin)
	total := sum(last, "rockstar_http_requests_total", nil)
	got2xx := sum(last, "rockstar_http_requests_total", map[string]string{"class": "2xx", "host": "hello.test", "tenant": "demo"})
	t.Logf("clients: %v; /metrics: %v requests (%v 2xx on hello.test)", res, total, got2xx)
	if diff := total - float64(res.Answered()); diff < 0 || diff > float64(res.Errs.Load()) {
		t.Fatalf("rockstar_http_requests_total = %v, clients saw %d answered and %d fail: off by %v",
			total, res.Answered(), res.Errs.Load(), diff)
	}

	// No counter went down, although a worker died in between.
	now := map[string]float64{}
	for _, s := range last {
		now[s.key()] = s.value
	}
	for _, s := range first {
		// go_* and process_* are the master process's own, and start
		// again with a new master.
		if !strings.HasPrefix(s.name, "rockstar_") {
			continue
		}
		if !strings.HasSuffix(s.name, "_total") && !strings.Contains(s.name, "_seconds_") {
			continue
		}
		if v, ok := now[s.key()]; !ok || v < s.value {
			t.Errorf("%s went from %v to %v", s.key(), s.value, v)
		}
	}
	if v := sum(last, "rockstar_worker_restarts_total", nil); v != 1 {
		t.Errorf("rockstar_worker_restarts_total = %v, want 1", v)
	}
	if v := sum(last, "rockstar_workers", map[string]string{"state": "ready"}); v != 2 {
		t.Errorf(`rockstar_workers{state="ready"} = %v, want 2`, v)
	}
}

// TestMetricsNames: every series the issue names is there, with its
// labels, and the histogram and byte counters agree with the requests.
func TestMetricsNames(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, limitConfig(2, "{ requests_per_second = 0.01, burst = 2 }", ""))
	m.waitWorkers(2, 10*time.Second)
	for range 5 {
		_, _, _ = m.get("a.test", "/")
	}
	_, _, _ = m.get("b.test", "/")
	_, _, _ = m.get("nobody.test", "/")
	mustReload(t, m)
	// Active connections come with the health answers, once a second.
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+m.addr+"/", nil)
	req.Host = "b.test"
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	var s []sample
	waitFor(t, "an open connection in rockstar_active_connections", 5*time.Second, func() bool {
		s = scrape(t, m.admin)
		return sum(s, "rockstar_active_connections", map[string]string{"server": m.addr}) >= 1
	})
	checks := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"rockstar_http_requests_total", map[string]string{"server": m.addr, "host": "a.test", "tenant": "demo", "code": "200", "class": "2xx"}, 2},
		{"rockstar_http_requests_total", map[string]string{"server": m.addr, "host": "a.test", "tenant": "demo", "code": "429", "class": "4xx"}, 3},
		{"rockstar_http_requests_total", map[string]string{"server": m.addr, "host": "a.test", "class": "4xx"}, 3},
		{"rockstar_http_requests_total", map[string]string{"host": "b.test", "code": "200"}, 2},
		{"rockstar_http_requests_total", map[string]string{"host": "_", "tenant": "", "code": "404", "class": "4xx"}, 1},
		{"rockstar_rate_limited_total", map[string]string{"host": "a.test", "tenant": "demo"}, 3},
		{"rockstar_http_request_duration_seconds_count", map[string]string{"host": "a.test"}, 5},
		{"rockstar_http_request_duration_seconds_bucket", map[string]string{"host": "a.test", "le": "+Inf"}, 5},
		{"rockstar_workers", map[string]string{"state": "ready"}, 2},
		{"rockstar_worker_restarts_total", nil, 0},
		{"rockstar_config_reloads_total", map[string]string{"result": "success"}, 1},
		{"rockstar_config_reloads_total", map[string]string{"result": "failure"}, 0},
	}
	for _, c := range checks {
		if got := sum(s, c.name, c.match); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	for _, name := range []string{"rockstar_http_bytes_received_total", "rockstar_http_bytes_sent_total"} {
		if got := sum(s, name, map[string]string{"host": "a.test"}); got <= 0 {
			t.Errorf("%s{host=a.test} = %v, want > 0", name, got)
		}
	}
}

// TestMetricsCodesAndRuntime: rockstar_http_requests_total counts each
// status code under its own code label (and its class under class), and
// the master exposes the Go and process collectors, its build and its
// workers' resident memory.
func TestMetricsCodesAndRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	m.waitWorkers(2, 10*time.Second)
	for range 3 {
		if code, _, err := m.get("hello.test", "/"); err != nil || code != 200 {
			t.Fatalf("hello.test: %d %v", code, err)
		}
	}
	for range 2 {
		if code, _, err := m.get("nobody.test", "/"); err != nil || code != 404 {
			t.Fatalf("nobody.test: %d %v", code, err)
		}
	}
	s := scrape(t, m.admin)
	checks := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"rockstar_http_requests_total", map[string]string{"host": "hello.test", "code": "200", "class": "2xx"}, 3},
		{"rockstar_http_requests_total", map[string]string{"host": "_", "code": "404", "class": "4xx"}, 2},
		{"rockstar_http_requests_total", map[string]string{"code": "2xx"}, 0},
		{"rockstar_http_requests_total", map[string]string{"code": "4xx"}, 0},
		{"rockstar_build_info", map[string]string{"goversion": runtime.Version()}, 1},
	}
	for _, c := range checks {
		if got := sum(s, c.name, c.match); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	for _, x := range s {
		if x.name == "rockstar_http_requests_total" {
			if code, err := strconv.Atoi(x.labels["code"]); err != nil || code < 100 || code > 599 {
				t.Errorf("rockstar_http_requests_total with code %q: %v", x.labels["code"], x.labels)
			}
		}
		if x.name == "rockstar_build_info" && (x.labels["version"] == "" || x.labels["revision"] == "") {
			t.Errorf("rockstar_build_info without version or revision: %v", x.labels)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if got := sum(s, name, nil); got <= 0 {
			t.Errorf("%s = %v, want > 0", name, got)
		}
	}
	for _, slot := range []string{"0", "1"} {
		if got := sum(s, "rockstar_worker_resident_memory_bytes", map[string]string{"slot": slot}); got < 1<<20 {
			t.Errorf("rockstar_worker_resident_memory_bytes{slot=%s} = %v, want a worker's (> 1 MiB)", slot, got)
		}
	}
}
