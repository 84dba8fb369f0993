package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

const tlsSrv = "[[server]]\nlisten = \":8443\"\ntls = \"auto\"\n"

func TestParseACME(t *testing.T) {
	def := ACME{CA: DefaultACMECA, Storage: "/etc/rockstar/acme", OnDemandRate: 10, OnDemandInterval: time.Minute, Challenges: DefaultACMEChallenges}
	for _, tc := range []struct {
		name, toml string
		want       ACME
		wantErr    error
		line       int    // of the error
		bad        string // the field an error names
	}{
		{name: "off", toml: srv, want: def},
		{name: "full", toml: srv + "[acme]\nca = \"https://127.0.0.1:14000/dir\"\nemail = \"ops@example.com\"\n" +
			"storage = \"certs\"\nca_root = \"/etc/pebble.pem\"\non_demand = true\non_demand_rate = \"3/h\"\n" + tlsSrv,
			want: ACME{CA: "https://127.0.0.1:14000/dir", Email: "ops@example.com", Storage: "/etc/rockstar/certs",
				CARoot: "/etc/pebble.pem", OnDemand: true, OnDemandRate: 3, OnDemandInterval: time.Hour, Challenges: DefaultACMEChallenges}},
		{name: "absolute storage", toml: srv + "[acme]\nstorage = \"/var/lib/rockstar/acme\"\n",
			want: ACME{CA: DefaultACMECA, Storage: "/var/lib/rockstar/acme", OnDemandRate: 10, OnDemandInterval: time.Minute, Challenges: DefaultACMEChallenges}},
		{name: "per second", toml: srv + "[acme]\non_demand_rate = \"1/s\"\n",
			want: ACME{CA: DefaultACMECA, Storage: "/etc/rockstar/acme", OnDemandRate: 1, OnDemandInterval: time.Second, Challenges: DefaultACMEChallenges}},
		{name: "tls-alpn-01 only", toml: srv + "[acme]\nchallenges = [\"tls-alpn-01\"]\n",
			want: ACME{CA: DefaultACMECA, Storage: "/etc/rockstar/acme", OnDemandRate: 10, OnDemandInterval: time.Minute, Challenges: []string{"tls-alpn-01"}}},
		{name: "challenge unknown", toml: srv + "[acme]\nchallenges = [\"dns-01\"]\n", bad: "acme.challenges[0]", line: 4, wantErr: ErrInvalid},
		{name: "challenge twice", toml: srv + "[acme]\nchallenges = [\"http-01\", \"http-01\"]\n", bad: "acme.challenges[1]", line: 4, wantErr: ErrDuplicate},
		{name: "no challenges", toml: srv + "[acme]\nchallenges = []\n", bad: "acme.challenges", line: 4, wantErr: ErrInvalid},
		{name: "http-01 without a plain server", toml: tlsSrv + "[acme]\non_demand = true\nchallenges = [\"http-01\"]\n", bad: "acme.challenges", line: 6, wantErr: ErrConflict},
		{name: "http ca", toml: srv + "[acme]\nca = \"http://ca.test/dir\"\n", bad: "acme.ca", line: 4, wantErr: ErrInvalid},
		{name: "ca not a url", toml: srv + "[acme]\nca = \"https://\"\n", bad: "acme.ca", line: 4, wantErr: ErrInvalid},
		{name: "ca type", toml: srv + "[acme]\nca = 3\n", bad: "acme.ca", line: 4, wantErr: ErrType},
		{name: "email", toml: srv + "[acme]\nemail = \"ops\"\n", bad: "acme.email", line: 4, wantErr: ErrInvalid},
		{name: "empty storage", toml: srv + "[acme]\nstorage = \"\"\n", bad: "acme.storage", line: 4, wantErr: ErrInvalid},
		{name: "on_demand type", toml: srv + "[acme]\non_demand = \"yes\"\n", bad: "acme.on_demand", line: 4, wantErr: ErrType},
		{name: "rate no slash", toml: srv + "[acme]\non_demand_rate = \"10\"\n", bad: "acme.on_demand_rate", line: 4, wantErr: ErrInvalid},
		{name: "rate zero", toml: srv + "[acme]\non_demand_rate = \"0/m\"\n", bad: "acme.on_demand_rate", line: 4, wantErr: ErrInvalid},
		{name: "rate too high", toml: srv + "[acme]\non_demand_rate = \"10001/m\"\n", bad: "acme.on_demand_rate", line: 4, wantErr: ErrInvalid},
		{name: "rate unit", toml: srv + "[acme]\non_demand_rate = \"10/d\"\n", bad: "acme.on_demand_rate", line: 4, wantErr: ErrInvalid},
		{name: "unknown", toml: srv + "[acme]\nrenew = \"1d\"\n", bad: "acme.renew", line: 4, wantErr: ErrUnknownKey},
		{name: "on_demand without tls", toml: srv + "[acme]\non_demand = true\n", bad: "acme.on_demand", line: 4, wantErr: ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/etc/rockstar/rockstar.toml", []byte(tc.toml))
			if tc.bad != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Field != tc.bad || ce.Line != tc.line || !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v at line %d in %s", err, tc.wantErr, tc.line, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ACME; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTLSAuto(t *testing.T) {
	doc := tlsSrv + "[[server]]\nlisten = \":8444\"\ntls = \"auto\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nprotocols = [\"http1\", \"http2\"]\n" +
		"[[host]]\nhostname = \"a.test\"\ntls = \"auto\"\n" +
		"[[host]]\nhostname = \"b.test\"\ntls_cert = \"b.pem\"\ntls_key = \"b.key\"\n" +
		"[[host]]\nhostname = \"*.c.test\"\n" +
		"[[host]]\nhostname = \"d.test\"\n"
	c, err := Parse("/etc/rockstar/rockstar.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Servers[0].TLSAuto || !c.Servers[0].TLS() || c.Servers[0].TLSCert != "" {
		t.Errorf("server 0: %+v", c.Servers[0])
	}
	if !c.Servers[1].TLSAuto || c.Servers[1].TLSCert != "/etc/rockstar/c.pem" {
		t.Errorf("server 1: %+v", c.Servers[1])
	}
	if !c.Hosts[0].TLSAuto || c.Hosts[1].TLSAuto {
		t.Errorf("hosts: %+v", c.Hosts)
	}
	// With a tls = "auto" server every host without its own pair is
	// managed; the wildcard one only on demand.
	if got, want := c.ACMEHosts(), []string{"a.test", "d.test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ACMEHosts = %q, want %q", got, want)
	}
	if !c.ACMEEnabled() {
		t.Error("ACMEEnabled = false")
	}
	// No plain [[server]]: no http-01 either.
	if got, want := c.ACME.Challenges, []string{ChallengeTLSALPN01}; !reflect.DeepEqual(got, want) {
		t.Errorf("Challenges = %q, want %q", got, want)
	}

	// Without one, only tls = "auto" hosts.
	c, err = Parse("/etc/rockstar/rockstar.toml", []byte("[[server]]\nlisten = \":8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"+
		"[[host]]\nhostname = \"a.test\"\ntls = \"auto\"\n[[host]]\nhostname = \"d.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ACMEHosts(), []string{"a.test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ACMEHosts = %q, want %q", got, want)
	}
	// With on_demand, a tls = "auto" server's hosts wait for their first
	// handshake.
	c, err = Parse("/etc/rockstar/rockstar.toml", []byte(tlsSrv+"[acme]\non_demand = true\n"+
		"[[host]]\nhostname = \"a.test\"\ntls = \"auto\"\n[[host]]\nhostname = \"d.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ACMEHosts(), []string{"a.test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("on demand: ACMEHosts = %q, want %q", got, want)
	}
	c = mustParse(t, srv)
	if c.ACMEEnabled() || len(c.ACMEHosts()) != 0 {
		t.Error("a config without tls = \"auto\" uses ACME")
	}
}

func TestParseTLSAutoInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		line      int
		field     string
		err       error
	}{
		{"value", "[[server]]\nlisten = \":8443\"\ntls = \"on\"\n", 3, "server[0].tls", ErrInvalid},
		{"type", "[[server]]\nlisten = \":8443\"\ntls = true\n", 3, "server[0].tls", ErrType},
		{"host with cert", tlsSrv + "[[host]]\nhostname = \"a.test\"\ntls = \"auto\"\ntls_cert = \"a.pem\"\ntls_key = \"a.key\"\n", 6, "host[0].tls", ErrConflict},
		{"wildcard", tlsSrv + "[[host]]\nhostname = \"*.a.test\"\ntls = \"auto\"\n", 6, "host[0].tls", ErrConflict},
		{"no tls server", srv + "[[host]]\nhostname = \"a.test\"\ntls = \"auto\"\n", 5, "host[0].tls", ErrConflict},
		{"http2 needs tls", "[[server]]\nlisten = \":8443\"\nprotocols = [\"http2\"]\n", 3, "server[0].protocols[0]", ErrConflict},
		{"h2c with auto", "[[server]]\nlisten = \":8443\"\ntls = \"auto\"\nprotocols = [\"h2c\"]\n", 4, "server[0].protocols[0]", ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/rockstar/rockstar.toml", []byte(tc.doc))
			var ce *Error
			if !errors.As(err, &ce) || ce.Field != tc.field || ce.Line != tc.line || !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v at line %d in %s", err, tc.err, tc.line, tc.field)
			}
		})
	}
}

func TestCheckSystemCARoot(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"missing", filepath.Join(dir, "none.pem"), os.ErrNotExist},
		{"not pem", bad, ErrNoCertificates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(filepath.Join(dir, "rockstar.toml"), []byte(srv+"[acme]\nca_root = \""+tc.path+"\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckSystem()
			var ce *Error
			if !errors.As(err, &ce) || ce.Field != "acme.ca_root" || !errors.Is(err, ErrSystem) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v in acme.ca_root", err, tc.want)
			}
		})
	}
}
