package supervisor_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpgradeKeepsCountersAndLimits: a USR2 upgrade hands the shared
// region to the new master with the sockets, so that under load no
// counter of /metrics goes down across it (those the master keeps itself
// and the upstream ones included), every request answered before or
// after it is counted, and a rate limit spent before it is still spent
// after it.
func TestUpgradeKeepsCountersAndLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	const slow = "{ requests_per_second = 0.01, burst = 3 }" // one more every 100 s
	up := newProxyUpstream(t, "up")
	cfg := func(b string) string { // hosts a.test (limited), b.test, proxy.test
		return strings.Replace(limitConfig(2, slow, ""), `respond = "b"`, `respond = "`+b+`"`, 1) +
			fmt.Sprintf("\n[[host]]\nhostname = \"proxy.test\"\nproxy = { upstreams = [%q] }\n", up.addr())
	}
	m := startMaster(t, cfg("b"))
	pids := m.waitWorkers(2, 10*time.Second)
	m.answers(20) // through the proxy: upstream counters, kept by the workers
	// Scraped once, so that the master keeps them when a worker is killed
	// (a worker's upstream counts since the last scrape die with it).
	scrape(t, m.admin)
	for i := range 3 {
		if code, _, err := m.get("a.test", "/"); err != nil || code != 200 {
			t.Fatalf("request %d of the burst: %d, %v", i, code, err)
		}
	}
	spent := func(when string) {
		t.Helper()
		for range 4 { // new connections: every worker gets some
			if code, _, err := m.get("a.test", "/"); err != nil || code != 429 {
				t.Fatalf("%s: the spent limit answered %d, %v; want 429", when, code, err)
			}
		}
	}
	spent("before the upgrade")
	// Something in the master's own counters too: a restart and a reload.
	_ = syscall.Kill(pids[0], syscall.SIGKILL)
	m.logs.wait(t, "worker exited unexpectedly; restarting", 10*time.Second)
	m.writeConfig(cfg("b2"))
	mustReload(t, m)

	live, stop := startLoad(m.addr, "b.test", "POST", 4, 60*time.Second)
	live.served(t, 300)
	first := scrape(t, m.admin)
	m.upgrade(t)
	admin, _ := m.logs.waitN(t, "admin endpoint listening", 2, 5*time.Second)["listen"].(string)
	live.served(t, 300)
	res := stop()
	if res.failures() != 0 || res.OK.Load() == 0 {
		t.Fatalf("load across the upgrade: %s", res)
	}
	spent("after the upgrade")

	last := scrape(t, admin)
	now := map[string]float64{}
	for _, s := range last {
		now[s.key()] = s.value
	}
	checked := 0
	for _, s := range first {
		// go_* and process_* are the master process's own, and start
		// again with a new master.
		if !strings.HasPrefix(s.name, "rockstar_") {
			continue
		}
		if !strings.HasSuffix(s.name, "_total") && !strings.Contains(s.name, "_seconds_") {
			continue
		}
		checked++
		if v, ok := now[s.key()]; !ok || v < s.value {
			t.Errorf("%s went from %v to %v across the upgrade", s.key(), s.value, v)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d counters to compare: %v", checked, first)
	}
	got := sum(last, "rockstar_http_requests_total", map[string]string{"host": "b.test"})
	if got < float64(res.Answered()) {
		t.Errorf("rockstar_http_requests_total{host=b.test} = %v, but the clients had %d answers", got, res.Answered())
	}
	if v := sum(last, "rockstar_upstream_requests_total", nil); v < 20 {
		t.Errorf("rockstar_upstream_requests_total = %v after 20 requests through the proxy", v)
	}
	if v := sum(last, "rockstar_worker_restarts_total", nil); v != 1 {
		t.Errorf("rockstar_worker_restarts_total = %v, want 1", v)
	}
	if v := sum(last, "rockstar_config_reloads_total", map[string]string{"result": "success"}); v != 1 {
		t.Errorf(`rockstar_config_reloads_total{result="success"} = %v, want 1`, v)
	}
	t.Logf("load: %s; b.test requests counted: %v", res, got)

	m.logs.wait(t, "upgrade: adopted the old master's shared memory", 5*time.Second)
	m.logs.wait(t, "upgrade: the old master's workers are gone; their buckets and areas are free", 20*time.Second)
	spent("after the old master's workers are gone")
}
