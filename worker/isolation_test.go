package worker

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// isolationServer serves two tenants on one plain and one TLS listener
// (one certificate for both, so that SNI alone decides nothing):
// tenant "ta" owns a.test and *.a.test, tenant "tb" owns b.test and
// *.b.test. Each has its own routes, files and limit; b's limit is spent
// by the time the table runs.
func isolationServer(t *testing.T) (sm ServerManager, plain, tlsAddr string, pool *tlsPool) {
	t.Helper()
	sm = quietManager(t)
	limit := func(burst int) *RateLimitConfig {
		return &RateLimitConfig{Enabled: true, RequestsPerSecond: 0.001, BurstSize: burst}
	}
	for _, h := range []struct {
		name, tenant, file string
		burst              int
	}{
		{"a.test", "ta", "secret-a.txt", 1000},
		{"*.a.test", "ta", "secret-a.txt", 1000},
		{"b.test", "tb", "secret-b.txt", 1},
		{"*.b.test", "tb", "secret-b.txt", 1},
	} {
		fsys := fstest.MapFS{h.file: {Data: []byte("file of " + h.tenant), ModTime: time.Now()}}
		if err := sm.RegisterHost(h.name, HostConfig{TenantID: h.tenant, VirtualFS: fsys, RateLimits: limit(h.burst)}); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRouter()
	for _, h := range []string{"a.test", "*.a.test"} {
		r.Host(h).GET("/who", text("tenant ta"))
	}
	for _, h := range []string{"b.test", "*.b.test"} {
		r.Host(h).GET("/who", text("tenant tb"))
		r.Host(h).GET("/b-only", text("tenant tb only"))
	}
	r.GET("/who", text("no tenant"))
	_, plain = start(t, sm, ServerConfig{}, r)
	certFile, keyFile, p := devPair(t, "a.test", "*.a.test", "b.test", "*.b.test")
	s := sm.NewServer(ServerConfig{})
	s.SetRouter(r)
	tlsAddr = listenTLS(t, s, certFile, keyFile)
	return sm, plain, tlsAddr, &tlsPool{p}
}

// TestTenantIsolation: whatever the Host (case, port, trailing dot,
// wildcard), the absolute-form URI or the SNI, a request for tenant ta's
// hosts never reaches tenant tb's routes, files, limit or metrics labels.
func TestTenantIsolation(t *testing.T) {
	sm, plain, tlsAddr, pool := isolationServer(t)
	// Spend b's limit: one request passes, the next is refused.
	for i, want := range []string{"200", "429"} {
		if reply, _ := exchange(t, plain, "GET /who HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n", 5*time.Second); statusOf(reply) != want {
			t.Fatalf("b.test request %d: %.60q, want %s", i, reply, want)
		}
	}
	before := sm.Metrics().Tenants["tb"]

	tests := []struct {
		name, sni, target, host string
		none                    bool // no host of ta: the default answers
	}{
		{"plain", "", "%s", "a.test", false},
		{"upper case", "", "%s", "A.TEST", false},
		{"mixed case", "", "%s", "A.tEsT", false},
		{"port", "", "%s", "a.test:8080", false},
		{"trailing dot", "", "%s", "a.test.", false},
		{"trailing dot and port", "", "%s", "A.Test.:443", false},
		{"wildcard", "", "%s", "x.a.test", false},
		{"wildcard is one label", "", "%s", "y.x.a.test", true},
		{"wildcard, upper case and dot", "", "%s", "X.A.TEST.", false},
		{"b as labels under a", "", "%s", "b.test.a.test", true},
		{"absolute-form", "", "http://a.test%s", "a.test", false},
		{"absolute-form, upper case", "", "http://A.TEST%s", "a.test", false},
		{"absolute-form, b's host", "", "http://b.test%s", "a.test", false},
		{"absolute-form, wildcard of b", "", "http://x.b.test%s", "a.test", false},
		{"TLS, SNI a", "a.test", "%s", "a.test", false},
		{"TLS, SNI b, Host a", "b.test", "%s", "a.test", false},
		{"TLS, SNI wildcard of b, Host a", "x.b.test", "%s", "A.TEST.", false},
		{"TLS, no SNI, Host a", "-", "%s", "a.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/who", "/b-only", "/secret-b.txt", "/secret-a.txt"} {
				req := "GET " + strings.Replace(tt.target, "%s", path, 1) + " HTTP/1.1\r\nHost: " + tt.host + "\r\nConnection: close\r\n\r\n"
				var reply string
				if tt.sni == "" {
					reply, _ = exchange(t, plain, req, 5*time.Second)
				} else {
					reply = pool.exchange(t, tlsAddr, tt.sni, req)
				}
				status, body := statusOf(reply), bodyOf(reply)
				if strings.Contains(body, "tb") {
					t.Errorf("%s: tenant tb answered: %s %q", path, status, body)
				}
				if status == "429" {
					t.Errorf("%s: refused by a limit (tb's is spent, ta's is not)", path)
				}
				// What ta serves, it serves whole; anything else is refused.
				want := map[string]string{"/who": "tenant ta", "/secret-a.txt": "file of ta"}[path]
				if tt.none {
					want = map[string]string{"/who": "no tenant"}[path]
				}
				if status == "200" && body != want {
					t.Errorf("%s: 200 %q, want %q", path, body, want)
				}
				if status != "200" && status != "400" && status != "404" && status != "421" {
					t.Errorf("%s: status %s (%q)", path, status, reply)
				}
			}
		})
	}
	after := sm.Metrics()
	if got := after.Tenants["tb"]; got.Requests != before.Requests {
		t.Errorf("tenant tb's metrics counted %d requests meant for ta", got.Requests-before.Requests)
	}
	for k, v := range after.Series {
		if k.Tenant == "tb" && k.Host != "b.test" && k.Host != "*.b.test" {
			t.Errorf("tb series under host %q: %+v", k.Host, v)
		}
		if k.Tenant != "tb" && strings.Contains(k.Host, "b.test") && !strings.HasSuffix(k.Host, ".a.test") {
			t.Errorf("series of b's host %q under tenant %q", k.Host, k.Tenant)
		}
	}
	if after.Tenants["ta"].Requests == 0 {
		t.Error("tenant ta counted nothing")
	}
}

func bodyOf(reply string) string {
	_, body, _ := strings.Cut(reply, "\r\n\r\n")
	return body
}

type tlsPool struct{ pool any }

// exchange sends req over TLS with SNI sni ("-": none) and reads to EOF.
func (p *tlsPool) exchange(t *testing.T, addr, sni, req string) string {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} // the SNI, not the chain, is under test
	if sni != "-" {
		cfg.ServerName = sni
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial, SNI %s: %v", sni, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}
