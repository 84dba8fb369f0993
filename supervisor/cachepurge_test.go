package supervisor_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tagUpstream answers its path, with the Surrogate-Key of a ?tag=, and
// counts its requests.
type tagUpstream struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newTagUpstream(t *testing.T) *tagUpstream {
	u := &tagUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if tag := r.URL.Query().Get("tag"); tag != "" {
			w.Header().Set("Surrogate-Key", tag)
		}
		io.WriteString(w, "page "+r.URL.Path)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// purgeConfig is a master with the admin API's token, [cluster] as given,
// and cached proxy hosts of tenants shop and blog over u.
func purgeConfig(t *testing.T, u *tagUpstream, cluster string) string {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := u.srv.Listener.Addr().String()
	return configHead(2, "info", "") + fmt.Sprintf(`token_file = %q
%s
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "shop.test"
tenant = "shop"
proxy = { upstreams = [%q] }
cache = { max_size = "1MB" }

[[host]]
hostname = "blog.test"
tenant = "blog"
proxy = { upstreams = [%q] }
cache = { max_size = "1MB" }

[[tenant]]
id = "shop"
hosts = ["shop.test"]

[[tenant]]
id = "blog"
hosts = ["blog.test"]
`, tok, cluster, addr, addr)
}

func xcache(t *testing.T, m *master, host, path string) string {
	t.Helper()
	_, _, xc := fetchCached(t, m.addr, host, path)
	return xc
}

func purge(t *testing.T, m *master, tenant, query string) map[string]any {
	t.Helper()
	resp, out := httpAPI(t, m, apiToken, "DELETE", "/v1/cache/"+tenant+"?"+query, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE /v1/cache/%s?%s: %d %v", tenant, query, resp.StatusCode, out)
	}
	return out
}

// A purge by prefix or tag removes that tenant's matching entries and
// nothing else; the answer counts them.
func TestCachePurgeAPI(t *testing.T) {
	u := newTagUpstream(t)
	m := startMaster(t, purgeConfig(t, u, ""))
	paths := []string{"/a/1", "/a/2", "/b", "/c?tag=red"}
	for _, host := range []string{"shop.test", "blog.test"} {
		for _, p := range paths {
			fetchCached(t, m.addr, host, p)
			if xc := xcache(t, m, host, p); xc != "HIT" {
				t.Fatalf("%s%s after a GET: X-Cache %q", host, p, xc)
			}
		}
	}
	before := u.hits.Load()
	if out := purge(t, m, "shop", "prefix=/a/"); out["purged"] != 2.0 || out["tenant"] != "shop" {
		t.Fatalf("purge shop /a/: %v, want 2 purged", out)
	}
	if out := purge(t, m, "shop", "tag=red"); out["purged"] != 1.0 {
		t.Fatalf("purge shop tag red: %v, want 1 purged", out)
	}
	want := map[string]string{"/a/1": "MISS", "/a/2": "MISS", "/b": "HIT", "/c?tag=red": "MISS"}
	for _, p := range paths {
		if xc := xcache(t, m, "shop.test", p); xc != want[p] {
			t.Errorf("shop.test%s after the purges: X-Cache %q, want %s", p, xc, want[p])
		}
		if xc := xcache(t, m, "blog.test", p); xc != "HIT" {
			t.Errorf("blog.test%s after shop's purges: X-Cache %q: another tenant's purge removed it", p, xc)
		}
	}
	if n := u.hits.Load() - before; n != 3 {
		t.Errorf("the upstream was asked %d times after the purges, want 3 (the purged entries)", n)
	}
	if resp, _ := httpAPI(t, m, apiToken, "DELETE", "/v1/cache/nobody", "", ""); resp.StatusCode != 404 {
		t.Errorf("purge of a tenant without a cache: %d, want 404", resp.StatusCode)
	}
	if resp, _ := httpAPI(t, m, "", "DELETE", "/v1/cache/shop", "", ""); resp.StatusCode != 401 {
		t.Errorf("purge without the token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := httpAPI(t, m, apiToken, "DELETE", "/v1/cache/shop?nope=1", "", ""); resp.StatusCode != 400 {
		t.Errorf("purge with an unknown parameter: %d, want 400", resp.StatusCode)
	}
	if !strings.Contains(m.metrics(), `rockstar_cache_purged_total{tenant="shop"} 3`) {
		t.Errorf("/metrics does not count shop's 3 purged entries")
	}
}

// Two masters on one Redis, as two machines: a purge on A reaches B's
// cache within a second; with Redis down the purge is queued on A and
// reaches B once Redis is back.
func TestCachePurgeAcrossMachines(t *testing.T) {
	r := startRedis(t)
	u := newTagUpstream(t)
	// machines is left at 1: after the outage A does not wait for B to
	// subscribe again, and B still gets the queued purge (A sends it again).
	cluster := fmt.Sprintf("\n[cluster]\nredis = %q\ntimeout = \"200ms\"\n", r.URL())
	a := startMaster(t, purgeConfig(t, u, cluster))
	b := startMaster(t, purgeConfig(t, u, cluster))
	fill := func(m *master, p string) {
		t.Helper()
		fetchCached(t, m.addr, "shop.test", p)
		if xc := xcache(t, m, "shop.test", p); xc != "HIT" {
			t.Fatalf("after a GET of %s: X-Cache %q", p, xc)
		}
	}
	fill(a, "/x")
	fill(b, "/x")
	fill(b, "/y")
	// Wait until both subscribed (a purge published before is not seen).
	waitFor(t, "both masters to subscribe", 10*time.Second, func() bool {
		return redisCLI(t, r, "PUBSUB", "NUMSUB", "rockstar:cache:purge") == "2"
	})
	start := time.Now()
	if out := purge(t, a, "shop", "prefix=/x"); out["cluster"] != "published" || out["purged"] != 1.0 {
		t.Fatalf("purge on A: %v", out)
	}
	waitFor(t, "B to lose /x", time.Second, func() bool { return xcache(t, b, "shop.test", "/x") == "MISS" })
	t.Logf("purge on A seen on B after %v", time.Since(start))
	if xc := xcache(t, b, "shop.test", "/y"); xc != "HIT" {
		t.Fatalf("B's /y after a purge of /x: %q", xc)
	}

	r.stop()
	if resp, out := sockAPI(t, a, "DELETE", "/v1/cache/shop?prefix=/y", "", "", ""); resp.Status != 200 || out["cluster"] != "published" {
		t.Fatalf("purge on A with Redis down: %v", out)
	}
	a.logs.wait(t, "cache purges: Redis is away; purges are queued until it returns", 10*time.Second)
	if xc := xcache(t, b, "shop.test", "/y"); xc != "HIT" {
		t.Fatalf("B lost /y while Redis was down: %q", xc)
	}
	r.start()
	waitFor(t, "B to lose /y once Redis is back", 15*time.Second, func() bool { return xcache(t, b, "shop.test", "/y") == "MISS" })
	a.logs.wait(t, "cache purges: Redis is back; queued purges sent", 5*time.Second)
}

// redisCLI runs one command against r with a raw connection and returns
// the reply's text.
func redisCLI(t *testing.T, r *redisServer, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		return ""
	}
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	// *2 $20 rockstar:cache:purge :N
	s := string(buf[:n])
	if i := strings.LastIndex(s, ":"); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

// Through the real proxy: an answer past max-age inside its
// stale-while-revalidate window is served STALE while one background
// request refreshes it; with the upstream gone, stale-if-error serves the
// old answer instead of the proxy's 502.
func TestCacheStaleThroughProxy(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=30, stale-if-error=60")
		fmt.Fprintf(w, "v%d", n)
	}))
	defer up.Close()
	cfg := configHead(2, "info", "") + fmt.Sprintf(`
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "swr.test"
proxy = { upstreams = [%q] }
cache = {}
`, up.Listener.Addr().String())
	m := startMaster(t, cfg)
	if _, body, xc := fetchCached(t, m.addr, "swr.test", "/"); body != "v1" || xc != "MISS" {
		t.Fatalf("first GET: %q %q", body, xc)
	}
	waitFor(t, "the entry to go stale", 5*time.Second, func() bool {
		_, body, xc := fetchCached(t, m.addr, "swr.test", "/")
		return xc == "STALE" && body == "v1"
	})
	waitFor(t, "the background refresh", 5*time.Second, func() bool {
		_, body, xc := fetchCached(t, m.addr, "swr.test", "/")
		return xc == "HIT" && body != "v1"
	})
	// One refresh per worker at most: each coalesces its own.
	if n := hits.Load(); n < 2 || n > 3 {
		t.Fatalf("the upstream was asked %d times, want 2 or 3 (a refresh by each of 2 workers at most)", n)
	}
	up.Close()
	time.Sleep(1100 * time.Millisecond) // past max-age=1: no condition to poll, the entry's age is the point
	waitFor(t, "stale-if-error to answer with the upstream gone", 35*time.Second, func() bool {
		code, body, xc := fetchCached(t, m.addr, "swr.test", "/")
		return code == 200 && body != "v1" && strings.HasPrefix(body, "v") && xc == "STALE"
	})
}
