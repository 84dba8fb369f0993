package supervisor_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cacheConfig is a master with a cached proxy host of tenant "shop" over
// u, and a cached respond host of tenant "blog".
func cacheConfig(workers int, u *proxyUpstream, extra string) string {
	return configHead(workers, "info", "") + fmt.Sprintf(`
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "shop.test"
tenant = "shop"
proxy = { upstreams = [%q] }
cache = { ttl = "60s", max_size = "4MB" }

[[host]]
hostname = "blog.test"
tenant = "blog"
respond = "hello"
cache = { ttl = "60s", max_size = "1MB" }

[[tenant]]
id = "shop"
hosts = ["shop.test"]
cache_quota = "2MB"

[[tenant]]
id = "blog"
hosts = ["blog.test"]
%s`, u.addr(), extra)
}

// fetchCached sends a GET on a connection of its own (so that the kernel
// spreads them over the workers) and returns status, body and X-Cache.
func fetchCached(t testing.TB, addr, host, path string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("X-Cache")
}

// One miss fills the cache every worker shares: the hits that follow, on
// connections the kernel spreads over all the workers, cost the upstream
// nothing.
func TestCacheSharedByWorkers(t *testing.T) {
	u := newProxyUpstream(t, "origin")
	m := startMaster(t, cacheConfig(4, u, ""))
	if code, body, xc := fetchCached(t, m.addr, "shop.test", "/"); code != 200 || body != "origin" || xc != "MISS" {
		t.Fatalf("first GET: %d %q X-Cache %q", code, body, xc)
	}
	for i := range 40 {
		if code, body, xc := fetchCached(t, m.addr, "shop.test", "/"); code != 200 || body != "origin" || xc != "HIT" {
			t.Fatalf("GET %d: %d %q X-Cache %q", i, code, body, xc)
		}
	}
	if n := u.hits.Load(); n != 1 {
		t.Fatalf("the upstream was asked %d times, want 1", n)
	}
	if _, _, xc := fetchCached(t, m.addr, "blog.test", "/"); xc != "MISS" {
		t.Fatalf("respond host, first GET: X-Cache %q", xc)
	}
	if _, body, xc := fetchCached(t, m.addr, "blog.test", "/"); xc != "HIT" || body != "hello" {
		t.Fatalf("respond host, second GET: %q X-Cache %q", body, xc)
	}
	metrics := m.metrics()
	for _, want := range []string{
		`rockstar_cache_hits_total{tenant="shop"} 40`,
		`rockstar_cache_misses_total{tenant="shop"} 1`,
		`rockstar_cache_hits_total{tenant="blog"} 1`,
		`rockstar_cache_quota_bytes{tenant="shop"} 2.097152e+06`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A reload that changes only a ttl keeps the entries (pushed in place,
// the same memory); one that changes a size starts a new generation with
// a cache of the new size, empty, and the old generation's memory is let
// go once it has drained.
func TestCacheAcrossReloads(t *testing.T) {
	u := newProxyUpstream(t, "origin")
	m := startMaster(t, cacheConfig(2, u, ""))
	fetchCached(t, m.addr, "shop.test", "/")
	m.writeConfig(strings.Replace(cacheConfig(2, u, ""), `cache = { ttl = "60s", max_size = "4MB" }`, `cache = { ttl = "120s", max_size = "4MB" }`, 1))
	m.signal(syscall.SIGHUP)
	m.logs.wait(t, "reloaded", 10*time.Second)
	if _, _, xc := fetchCached(t, m.addr, "shop.test", "/"); xc != "HIT" {
		t.Fatalf("after a ttl change: X-Cache %q, want HIT (same memory)", xc)
	}
	m.writeConfig(strings.Replace(cacheConfig(2, u, ""), `cache_quota = "2MB"`, `cache_quota = "3MB"`, 1))
	m.signal(syscall.SIGHUP)
	m.logs.waitN(t, "reloaded", 2, 20*time.Second)
	m.logs.wait(t, "old generation drained", 20*time.Second)
	if _, _, xc := fetchCached(t, m.addr, "shop.test", "/"); xc != "MISS" {
		t.Fatalf("after a size change: X-Cache %q, want MISS (a new, empty cache)", xc)
	}
	if _, _, xc := fetchCached(t, m.addr, "shop.test", "/"); xc != "HIT" {
		t.Fatalf("the new generation's cache: X-Cache %q, want HIT", xc)
	}
	if !strings.Contains(m.metrics(), `rockstar_cache_quota_bytes{tenant="shop"} 3.145728e+06`) {
		t.Fatal("/metrics does not show the new quota")
	}
	if n := u.hits.Load(); n != 2 {
		t.Fatalf("the upstream was asked %d times, want 2", n)
	}
	// The master maps the new generation's cache memory, not the old's.
	waitFor(t, "the master to unmap the old cache memory", 5*time.Second, func() bool {
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", m.pid()))
		return err == nil && strings.Count(string(maps), "memfd:rockstar-cache") == 1
	})
}

// Concurrent misses of one key, spread over all the workers, make one
// upstream request: the workers coalesce through the shared store.
func TestCacheCoalescesAcrossWorkers(t *testing.T) {
	u := newProxyUpstream(t, "origin")
	m := startMaster(t, cacheConfig(4, u, ""))
	const n = 24
	var wg sync.WaitGroup
	var hits, others atomic.Int64
	for range n {
		wg.Go(func() {
			code, body, xc := fetchCached(t, m.addr, "shop.test", "/slow")
			if code != 200 || body != "origin" {
				t.Errorf("GET /slow: %d %q", code, body)
			}
			if xc == "HIT" {
				hits.Add(1)
			} else {
				others.Add(1)
			}
		})
	}
	wg.Wait()
	if got := u.slow.Load(); got != 1 {
		t.Fatalf("%d concurrent misses over 4 workers made %d upstream requests, want 1", n, got)
	}
	if hits.Load() != n-1 {
		t.Fatalf("%d HITs and %d others, want %d HITs", hits.Load(), others.Load(), n-1)
	}
}
