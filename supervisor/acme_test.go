package supervisor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// acmeConfig follows configHead: a plain and a TLS listener at fixed
// ports (Pebble's challenge ports), the [acme] section pointed at Pebble,
// and hosts; %s are the listen ports, Pebble's directory and root, the
// [acme] section's extra lines, and the hosts.
const acmeConfig = `
[[server]]
listen = "127.0.0.1:%d"

[[server]]
listen = "127.0.0.1:%d"
tls = "auto"

[acme]
ca = %q
ca_root = %q
email = "ops@example.com"
storage = "acme"
%s
%s`

const acmeHosts = `
[[host]]
hostname = "a.test"
respond = "tenant a"

[[host]]
hostname = "*.tenants.test"
respond = "a tenant"
`

// TestACMEOnDemand: with on_demand, the first handshake for a registered
// name gets a certificate from Pebble (which validated it against the
// workers), for a name under a wildcard host too; a name the registry
// has not gets none, and nothing is asked of the CA. The certificates
// and keys are in the store, mode 0700 and 0600, and a master started
// again serves the same certificate without a new issuance.
func TestACMEOnDemand(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, tlsPort)
	dir := t.TempDir()
	cfg := configHead(2, "debug", "") + fmt.Sprintf(acmeConfig, httpPort, tlsPort, p.dir, p.caPEM, "on_demand = true", acmeHosts)
	m := startMasterAt(t, dir, cfg, nil)
	roots := p.roots(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)

	first, err := handshake(tlsAddr, "a.test", roots)
	if err != nil {
		t.Fatalf("first handshake for a.test: %v", err)
	}
	if err := first.VerifyHostname("a.test"); err != nil {
		t.Fatal(err)
	}
	if code, body, err := getOverTLS(tlsAddr, "a.test", roots); err != nil || code != 200 || body != "tenant a" {
		t.Fatalf("GET https://a.test/: %d %q %v", code, body, err)
	}
	if _, err := handshake(tlsAddr, "x.tenants.test", roots); err != nil {
		t.Fatalf("handshake for x.tenants.test (wildcard host): %v", err)
	}
	answered := len(m.logs.find("acme: answered http-01")) + len(m.logs.find("acme: answered tls-alpn-01"))
	if answered == 0 {
		t.Error("no worker logged a challenge answer")
	}

	// Unregistered: no certificate, and the master is not even asked.
	if c, err := handshake(tlsAddr, "unknown.test", roots); err == nil {
		t.Fatalf("handshake for unknown.test got a certificate for %v", c.DNSNames)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", "certificates")); err != nil {
		t.Fatal(err)
	}
	if got := storedNames(t, filepath.Join(dir, "acme")); strings.Join(got, ",") != "a.test,x.tenants.test" {
		t.Errorf("the store has certificates of %q, want a.test and x.tenants.test", got)
	}
	if keys := checkStoreModes(t, filepath.Join(dir, "acme")); keys < 2 {
		t.Errorf("the store has %d keys, want at least 2 (account and certificates)", keys)
	}
	issued := len(m.logs.find("acme: obtaining a certificate"))
	if issued != 2 {
		t.Errorf("the master obtained %d certificates, want 2", issued)
	}

	// A new master (the store kept): the same certificate, not obtained
	// again.
	m.signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the master did not stop")
	}
	m2 := startMasterAt(t, dir, cfg, nil)
	again, err := handshake(tlsAddr, "a.test", roots)
	if err != nil {
		t.Fatalf("handshake after the restart: %v", err)
	}
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after the restart: serial %s, want %s (the stored one)", again.SerialNumber, first.SerialNumber)
	}
	if n := len(m2.logs.find("acme: obtaining a certificate")); n != 0 {
		t.Errorf("the restarted master obtained %d certificates, want 0", n)
	}
}

// TestACMEOnDemandRegistry: the registry includes the runtime API's
// hosts (a host added there gets a certificate at its first handshake,
// one deleted there no longer gets it), and on_demand_rate bounds the
// issuances: past it a registered name gets none, and the CA is not
// asked.
func TestACMEOnDemandRegistry(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, tlsPort)
	cfg := configHead(2, "debug", "") + fmt.Sprintf(acmeConfig, httpPort, tlsPort, p.dir, p.caPEM,
		"on_demand = true\non_demand_rate = \"2/h\"", acmeHosts)
	m := startMaster(t, cfg)
	roots := p.roots(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)

	if _, err := handshake(tlsAddr, "api.test", roots); err == nil {
		t.Fatal("api.test got a certificate before the API added it")
	}
	if resp, _ := sockAPI(t, m, "PUT", "/v1/hosts/api.test", "", "*", `{"respond": "from the api"}`); resp.Status != 201 {
		t.Fatalf("PUT api.test: %d %s", resp.Status, resp.Body)
	}
	if code, body, err := getOverTLS(tlsAddr, "api.test", roots); err != nil || code != 200 || body != "from the api" {
		t.Fatalf("GET https://api.test/: %d %q %v", code, body, err)
	}
	if _, err := handshake(tlsAddr, "a.test", roots); err != nil {
		t.Fatalf("a.test, the second issuance: %v", err)
	}
	// The third within the hour: refused, though registered.
	if _, err := handshake(tlsAddr, "b.tenants.test", roots); err == nil {
		t.Fatal("b.tenants.test got a certificate past on_demand_rate")
	}
	m.logs.wait(t, "acme: on-demand rate limit reached; no certificate", 5*time.Second)
	if n := len(m.logs.find("acme: obtaining a certificate")); n != 2 {
		t.Errorf("%d issuances, want 2", n)
	}
	// Deleted: its certificate is no longer served.
	if resp, _ := sockAPI(t, m, "DELETE", "/v1/hosts/api.test", "", "", ""); resp.Status != 204 && resp.Status != 200 {
		t.Fatalf("DELETE api.test: %d %s", resp.Status, resp.Body)
	}
	if _, err := handshake(tlsAddr, "api.test", roots); err == nil {
		t.Error("api.test still gets its certificate after the API deleted it")
	}
}

// TestACMEAuto: a tls = "auto" host (on_demand off) gets its certificate
// at the master's start, before any handshake asks; other hosts get none.
func TestACMEAuto(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, tlsPort)
	dir := t.TempDir()
	hosts := acmeHosts + "\n[[host]]\nhostname = \"auto.test\"\nrespond = \"auto\"\ntls = \"auto\"\n"
	// The server is tls = "auto" too: without on_demand, every host gets
	// one then (but the wildcard one).
	cfg := configHead(1, "debug", "") + fmt.Sprintf(acmeConfig, httpPort, tlsPort, p.dir, p.caPEM, "", hosts)
	m := startMasterAt(t, dir, cfg, nil)
	waitFor(t, "the certificates of a.test and auto.test in the store", 60*time.Second, func() bool {
		return strings.Join(storedNames(t, filepath.Join(dir, "acme")), ",") == "a.test,auto.test"
	})
	roots := p.roots(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	if code, body, err := getOverTLS(tlsAddr, "auto.test", roots); err != nil || code != 200 || body != "auto" {
		t.Fatalf("GET https://auto.test/: %d %q %v", code, body, err)
	}
	if _, err := handshake(tlsAddr, "x.tenants.test", roots); err == nil {
		t.Error("x.tenants.test got a certificate without on_demand")
	}
	if n := len(m.logs.find("acme: obtaining a certificate")); n != 0 {
		t.Errorf("%d on-demand issuances, want 0", n)
	}
	checkStoreModes(t, filepath.Join(dir, "acme"))
}

// TestACMEChallenges: each challenge type alone, answered by a worker
// from the store on the shared port it reaches (two workers: either may
// get it).
func TestACMEChallenges(t *testing.T) {
	for _, tc := range []struct{ challenge, other string }{
		{"http-01", "tls-alpn-01"},
		{"tls-alpn-01", "http-01"},
	} {
		t.Run(tc.challenge, func(t *testing.T) {
			httpPort, tlsPort := freePort(t), freePort(t)
			p := startPebble(t, httpPort, tlsPort)
			extra := fmt.Sprintf("on_demand = true\nchallenges = [%q]", tc.challenge)
			m := startMaster(t, configHead(2, "debug", "")+fmt.Sprintf(acmeConfig, httpPort, tlsPort, p.dir, p.caPEM, extra, acmeHosts))
			tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
			if _, err := handshake(tlsAddr, "a.test", p.roots(t)); err != nil {
				t.Fatalf("handshake for a.test: %v", err)
			}
			if n := len(m.logs.find("acme: answered " + tc.challenge)); n == 0 {
				t.Errorf("no worker answered %s", tc.challenge)
			}
			if n := len(m.logs.find("acme: answered " + tc.other)); n != 0 {
				t.Errorf("a worker answered %s %d times; only %s is on", tc.other, n, tc.challenge)
			}
		})
	}
}

// storedNames lists the names the store has certificates of, sorted.
func storedNames(t *testing.T, store string) []string {
	t.Helper()
	var out []string
	issuers, _ := os.ReadDir(filepath.Join(store, "certificates"))
	for _, is := range issuers {
		sites, _ := os.ReadDir(filepath.Join(store, "certificates", is.Name()))
		for _, s := range sites {
			if _, err := os.Stat(filepath.Join(store, "certificates", is.Name(), s.Name(), s.Name()+".crt")); err == nil {
				out = append(out, s.Name())
			}
		}
	}
	return out
}
