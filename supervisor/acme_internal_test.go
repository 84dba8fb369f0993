package supervisor

import (
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// TestIssueLimiter: n at once, then one more per interval/n, never more
// than n saved up.
func TestIssueLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newIssueLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if !l.allow() {
			t.Fatalf("issuance %d of the first 3 refused", i+1)
		}
	}
	if l.allow() {
		t.Fatal("a 4th issuance at once was allowed")
	}
	now = now.Add(19 * time.Second) // a token takes 20 s
	if l.allow() {
		t.Fatal("allowed after 19 s")
	}
	now = now.Add(time.Second)
	if !l.allow() {
		t.Fatal("refused after 20 s")
	}
	if l.allow() {
		t.Fatal("two allowed after 20 s")
	}
	now = now.Add(time.Hour) // the bucket fills to 3, no more
	for i := range 3 {
		if !l.allow() {
			t.Fatalf("issuance %d after an hour refused", i+1)
		}
	}
	if l.allow() {
		t.Fatal("more than 3 saved up")
	}
}

// TestACMEAllowed: the registry decides which names may have a
// certificate.
func TestACMEAllowed(t *testing.T) {
	parse := func(doc string) *config.Config {
		t.Helper()
		c, err := config.Parse("/etc/rockstar/rockstar.toml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const servers = "[[server]]\nlisten = \":80\"\n[[server]]\nlisten = \":443\"\ntls = \"auto\"\n"
	const hosts = "[[host]]\nhostname = \"a.test\"\n[[host]]\nhostname = \"*.t.test\"\n" +
		"[[host]]\nhostname = \"own.test\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"
	onDemand := parse(servers + "[acme]\non_demand = true\n" + hosts)
	eager := parse(servers + hosts)
	for _, tc := range []struct {
		name            string
		onDemand, eager bool
	}{
		{"a.test", true, true},
		{"x.t.test", true, false}, // a wildcard host: on demand only
		{"y.x.t.test", false, false},
		{"t.test", false, false},
		{"own.test", false, false}, // its own certificate
		{"unknown.test", false, false},
	} {
		if got := acmeAllowed(onDemand, tc.name); got != tc.onDemand {
			t.Errorf("on demand: %s allowed = %v, want %v", tc.name, got, tc.onDemand)
		}
		if got := acmeAllowed(eager, tc.name); got != tc.eager {
			t.Errorf("without on demand: %s allowed = %v, want %v", tc.name, got, tc.eager)
		}
	}
}
