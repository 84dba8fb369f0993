package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

func TestParseMinimalDefaults(t *testing.T) {
	c := mustParse(t, "[[server]]\nlisten = \":8080\"\n")
	want := &Config{
		Path: "/etc/rockstar/rockstar.toml",
		Supervisor: Supervisor{
			Workers:         CPUs(),
			WorkersAuto:     true,
			ControlSocket:   "/etc/rockstar/run/rockstar.sock",
			PIDFile:         "/etc/rockstar/run/rockstar.pid",
			ShutdownTimeout: 30 * time.Second,
		},
		Log:     Log{Level: "info", AccessLogFormat: "json"},
		Admin:   Admin{Listen: "127.0.0.1:9090", IdleTimeout: 30 * time.Second, MaxConnections: 64, StateFile: "/etc/rockstar/rockstar.state.json"},
		Cluster: Cluster{Machines: DefaultClusterMachines, Timeout: DefaultClusterTimeout, LeaseWindow: DefaultClusterLeaseWindow},
		ACME:    ACME{CA: DefaultACMECA, Storage: "/etc/rockstar/acme", OnDemandRate: DefaultOnDemandRate, OnDemandInterval: DefaultOnDemandInterval, Challenges: DefaultACMEChallenges},
		Servers: []Server{{
			Listen:         ":8080",
			Protocols:      []string{"http1"},
			ReadTimeout:    worker.DefaultReadTimeout,
			WriteTimeout:   worker.DefaultWriteTimeout,
			IdleTimeout:    worker.DefaultIdleTimeout,
			MaxHeaderBytes: worker.DefaultMaxHeaderBytes,
			MaxConnections: worker.DefaultMaxConnections,
			MaxRequestSize: worker.DefaultMaxRequestSize,
			EventLoop:      true,
			RealIPHeader:   RealIPXForwardedFor,
		}},
		name:   c.name,
		pos:    c.pos,
		data:   c.data,
		doc:    c.doc,
		origin: c.origin,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

const fullDoc = `[supervisor]
workers = 4
control_socket = "/run/rockstar/ctl.sock"
pid_file = ""
shutdown_timeout = "1m30s"
user = "nobody"
group = "1000"

[log]
level = "debug"
format = "json"
access_log = "-"

[admin]
listen = ""

[[server]]
listen = "127.0.0.1:8443"
protocols = ["http1", "http2", "http3"]
read_timeout = "5s"
write_timeout = "6s"
idle_timeout = "7s"
max_header_bytes = 16384
max_connections = 1000
max_request_size = 1048576
trusted_proxies = ["10.0.0.0/8", "::1"]
real_ip_header = "Forwarded"
proxy_protocol = true
tls_cert = "certs/default.pem"
tls_key = "certs/default.key"

[[host]]
hostname = "App.Example.COM."
root = "sites/app"
headers = { X-Frame-Options = "DENY", "Strict-Transport-Security" = "max-age=60" }
rate_limit = { requests_per_second = 2.5, burst = 5, key = "client_ip" }
tls_cert = "/certs/app.pem"
tls_key = "/certs/app.key"

[[host]]
hostname = "*.example.com"
tenant = "t1"
respond = "ok"
respond_status = 204
content_type = "application/json"

[[host]]
hostname = "api.example.com"
proxy = { upstreams = ["127.0.0.1:9001", "127.0.0.1:9002"], strategy = "least_conn", health_path = "/healthz", health_interval = "2s", max_fails = 0, retries = 0, tunnel_idle_timeout = "90s" }

[[host]]
hostname = "bare.example.com"

[[tenant]]
id = "t1"
hosts = ["app.example.com"]
rate_limit = { requests_per_second = 100, burst = 20 }
`

func TestParseAdmin(t *testing.T) {
	c := mustParse(t, srv+"[admin]\nlisten = \"[::1]:9191\"\nidle_timeout = \"1m\"\nmax_connections = 8\n"+
		"hosts = [\"Status.Example.NET.\", \"admin\"]\n")
	want := Admin{Listen: "[::1]:9191", IdleTimeout: time.Minute, MaxConnections: 8, Hosts: []string{"status.example.net", "admin"},
		StateFile: "/etc/rockstar/rockstar.state.json"}
	if !reflect.DeepEqual(c.Admin, want) {
		t.Errorf("Admin = %+v, want %+v", c.Admin, want)
	}
}

func TestParseEventLoop(t *testing.T) {
	for _, tt := range []struct {
		line string
		want bool
	}{{"", true}, {"event_loop = true\n", true}, {"event_loop = false\n", false}} {
		c := mustParse(t, "[[server]]\nlisten = \":8080\"\n"+tt.line)
		if got := c.Servers[0].EventLoop; got != tt.want {
			t.Errorf("%q: EventLoop = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// trusted_proxies takes prefixes and single addresses; real_ip_header
// any case of its two names; proxy_protocol a boolean.
func TestParseTrustedProxies(t *testing.T) {
	c := mustParse(t, "[[server]]\nlisten = \":8080\"\n"+
		`trusted_proxies = ["10.0.0.0/8", "127.0.0.1", "::1/128", "2001:db8::7", "::ffff:192.0.2.1"]`+"\n"+
		`real_ip_header = "forwarded"`+"\nproxy_protocol = true\n")
	s := c.Servers[0]
	var got []string
	for _, p := range s.TrustedProxies {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 127.0.0.1/32 ::1/128 2001:db8::7/128 ::ffff:192.0.2.1/128"; strings.Join(got, " ") != want {
		t.Errorf("TrustedProxies = %q, want %q", got, want)
	}
	if s.RealIPHeader != RealIPForwarded || !s.ProxyProtocol {
		t.Errorf("RealIPHeader %q, ProxyProtocol %v", s.RealIPHeader, s.ProxyProtocol)
	}
	if d := mustParse(t, "[[server]]\nlisten = \":8080\"\n").Servers[0]; d.TrustedProxies != nil || d.ProxyProtocol {
		t.Errorf("defaults: %+v", d)
	}
}

// dotfiles is false unless a host with a root says otherwise.
func TestParseDotfiles(t *testing.T) {
	for _, tt := range []struct {
		line string
		want bool
	}{{"", false}, {"dotfiles = true\n", true}, {"dotfiles = false\n", false}} {
		c := mustParse(t, srv+"[[host]]\nhostname = \"a.test\"\nroot = \"www\"\n"+tt.line)
		if got := c.Hosts[0].Dotfiles; got != tt.want {
			t.Errorf("%q: Dotfiles = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// precompressed (default true with a root) switches a root's
// precompressed siblings off.
func TestParsePrecompressed(t *testing.T) {
	for _, tt := range []struct {
		line string
		want bool
	}{{"", true}, {"precompressed = false\n", false}, {"precompressed = true\n", true}} {
		c := mustParse(t, srv+"[[host]]\nhostname = \"a.test\"\nroot = \"www\"\n"+tt.line)
		if got := c.Hosts[0].Precompressed; got != tt.want {
			t.Errorf("%q: Precompressed = %v, want %v", tt.line, got, tt.want)
		}
	}
	for _, tt := range []struct {
		line string
		want bool
	}{{"", true}, {"compression = false\n", false}} {
		c := mustParse(t, srv+"[[host]]\nhostname = \"a.test\"\nroot = \"www\"\n"+tt.line)
		if got := c.Hosts[0].Compression; got != tt.want {
			t.Errorf("%q: Compression = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// cache_control and fallback reach a root host.
func TestParseCacheControlAndFallback(t *testing.T) {
	c := mustParse(t, srv+"[[host]]\nhostname = \"a.test\"\nroot = \"www\"\nfallback = \"/index.html\"\n"+
		"cache_control = { \"/assets/*\" = \"public, max-age=31536000, immutable\", \"*\" = \"no-cache\" }\n")
	h := c.Hosts[0]
	if h.Fallback != "/index.html" || h.CacheControl["/assets/*"] != "public, max-age=31536000, immutable" || h.CacheControl["*"] != "no-cache" {
		t.Fatalf("got fallback %q, cache_control %v", h.Fallback, h.CacheControl)
	}
}

func TestParseAccessLogFormat(t *testing.T) {
	for _, f := range []string{AccessLogJSON, AccessLogCombined} {
		c := mustParse(t, "[log]\naccess_log_format = \""+f+"\"\n[[server]]\nlisten = \":8080\"\n")
		if c.Log.AccessLogFormat != f {
			t.Errorf("access_log_format %q parsed as %q", f, c.Log.AccessLogFormat)
		}
	}
}

func TestParseFull(t *testing.T) {
	c := mustParse(t, fullDoc)
	sup := Supervisor{Workers: 4, ControlSocket: "/run/rockstar/ctl.sock", ShutdownTimeout: 90 * time.Second, User: "nobody", Group: "1000"}
	if c.Supervisor != sup {
		t.Errorf("Supervisor = %+v, want %+v", c.Supervisor, sup)
	}
	if want := (Log{Level: "debug", Format: "json", AccessLog: AccessLogStderr, AccessLogFormat: AccessLogJSON}); c.Log != want {
		t.Errorf("Log = %+v, want %+v", c.Log, want)
	}
	if want := (Admin{IdleTimeout: DefaultAdminIdleTimeout, MaxConnections: DefaultAdminMaxConnections, StateFile: "/etc/rockstar/rockstar.state.json"}); !reflect.DeepEqual(c.Admin, want) {
		t.Errorf("Admin = %+v, want %+v (disabled)", c.Admin, want)
	}
	servers := []Server{{
		Listen: "127.0.0.1:8443", Protocols: []string{"http1", "http2", "http3"},
		ReadTimeout: 5 * time.Second, WriteTimeout: 6 * time.Second, IdleTimeout: 7 * time.Second,
		MaxHeaderBytes: 16384, MaxConnections: 1000, MaxRequestSize: 1 << 20, EventLoop: true,
		TLSCert: "/etc/rockstar/certs/default.pem", TLSKey: "/etc/rockstar/certs/default.key",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		RealIPHeader:   RealIPForwarded, ProxyProtocol: true,
	}}
	if !reflect.DeepEqual(c.Servers, servers) {
		t.Errorf("Servers = %+v\nwant %+v", c.Servers, servers)
	}
	hosts := []Host{{
		Hostname: "app.example.com", Tenant: "t1", Root: "/etc/rockstar/sites/app", Precompressed: true, Compression: true,
		RespondStatus: 200, ContentType: DefaultContentType,
		Headers:   map[string]string{"X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=60"},
		RateLimit: &RateLimit{RequestsPerSecond: 2.5, Burst: 5, Key: KeyClientIP, Size: DefaultClientTableSize, IPv6Prefix: DefaultIPv6Prefix, Scope: ScopeMachine},
		TLSCert:   "/certs/app.pem", TLSKey: "/certs/app.key",
	}, {
		Hostname: "*.example.com", Tenant: "t1", Respond: "ok", RespondStatus: 204, ContentType: "application/json",
	}, {
		Hostname: "api.example.com", RespondStatus: 200, ContentType: DefaultContentType,
		Proxy: &Proxy{
			Upstreams: []string{"127.0.0.1:9001", "127.0.0.1:9002"}, Strategy: StrategyLeastConn,
			HealthPath: "/healthz", HealthInterval: 2 * time.Second, FailTimeout: DefaultFailTimeout,
			MaxFails: 0, Timeout: DefaultProxyTimeout, Retries: 0, TunnelIdleTimeout: 90 * time.Second,
		},
	}, {
		Hostname: "bare.example.com", RespondStatus: 200, ContentType: DefaultContentType,
	}}
	if !reflect.DeepEqual(c.Hosts, hosts) {
		t.Errorf("Hosts = %+v\nwant %+v", c.Hosts, hosts)
	}
	// The tenant gains the wildcard host, which names it without being listed.
	tenants := []Tenant{{
		ID: "t1", Hosts: []string{"app.example.com", "*.example.com"},
		RateLimit: &RateLimit{RequestsPerSecond: 100, Burst: 20, Scope: ScopeMachine},
	}}
	if !reflect.DeepEqual(c.Tenants, tenants) {
		t.Errorf("Tenants = %+v\nwant %+v", c.Tenants, tenants)
	}
}

func TestProxyDefaults(t *testing.T) {
	c := mustParse(t, `[[server]]
listen = ":80"
[[host]]
hostname = "a.test"
proxy = { upstreams = ["backend:80"] }
`)
	want := &Proxy{
		Upstreams: []string{"backend:80"}, Strategy: DefaultProxyStrategy,
		HealthInterval: DefaultHealthInterval, FailTimeout: DefaultFailTimeout,
		MaxFails: DefaultMaxFails, Timeout: DefaultProxyTimeout, Retries: DefaultRetries,
		TunnelIdleTimeout: DefaultTunnelIdleTimeout,
	}
	if got := c.Hosts[0].Proxy; !reflect.DeepEqual(got, want) {
		t.Errorf("Proxy = %+v, want %+v", got, want)
	}
}

func TestPathResolution(t *testing.T) {
	doc := `[supervisor]
control_socket = "../sock/r.sock"
pid_file = "r.pid"
[log]
access_log = "logs/access.log"
[[server]]
listen = ":443"
tls_cert = "./c.pem"
tls_key = "/abs/k.pem"
[[host]]
hostname = "a.test"
root = "sites/../www/a"
`
	for _, tc := range []struct {
		file, dir string
	}{
		{"/etc/rockstar/rockstar.toml", "/etc/rockstar"},
		{"/srv/x/y/conf.toml", "/srv/x/y"},
	} {
		c, err := Parse(tc.file, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		got := []string{c.Path, c.Supervisor.ControlSocket, c.Supervisor.PIDFile, c.Log.AccessLog,
			c.Servers[0].TLSCert, c.Servers[0].TLSKey, c.Hosts[0].Root}
		want := []string{tc.file, filepath.Dir(tc.dir) + "/sock/r.sock", tc.dir + "/r.pid", tc.dir + "/logs/access.log",
			tc.dir + "/c.pem", "/abs/k.pem", tc.dir + "/www/a"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.file, got, want)
		}
	}
}

func TestRelativeConfigPathResolvesAgainstWorkingDir(t *testing.T) {
	t.Chdir(t.TempDir())
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("conf/rockstar.toml", []byte("[[server]]\nlisten = \":1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + "/conf/rockstar.toml"; c.Path != want {
		t.Errorf("Path = %q, want %q", c.Path, want)
	}
	if want := dir + "/conf/run/rockstar.sock"; c.Supervisor.ControlSocket != want {
		t.Errorf("ControlSocket = %q, want %q", c.Supervisor.ControlSocket, want)
	}
}

func TestHostTenantNormalization(t *testing.T) {
	c := mustParse(t, `[[server]]
listen = ":80"
[[host]]
hostname = "a.test"
[[host]]
hostname = "b.test"
tenant = "t"
[[host]]
hostname = "C.test"
tenant = "t"
[[tenant]]
id = "t"
hosts = ["c.TEST", "a.test"]
`)
	var tenants []string
	for _, h := range c.Hosts {
		tenants = append(tenants, h.Tenant)
	}
	if want := []string{"t", "t", "t"}; !reflect.DeepEqual(tenants, want) {
		t.Errorf("host tenants = %q, want %q", tenants, want)
	}
	if want := []string{"c.test", "a.test", "b.test"}; !reflect.DeepEqual(c.Tenants[0].Hosts, want) {
		t.Errorf("tenant hosts = %q, want %q", c.Tenants[0].Hosts, want)
	}
}

func TestWorkersAuto(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		n    int
		auto bool
	}{
		{"", CPUs(), true},
		{"[supervisor]\nworkers = \"auto\"\n", CPUs(), true},
		{"[supervisor]\nworkers = 3\n", 3, false},
	} {
		c := mustParse(t, tc.doc+"[[server]]\nlisten = \":80\"\n")
		if c.Supervisor.Workers != tc.n || c.Supervisor.WorkersAuto != tc.auto {
			t.Errorf("%q: Workers %d auto %v, want %d %v", tc.doc, c.Supervisor.Workers, c.Supervisor.WorkersAuto, tc.n, tc.auto)
		}
	}
}

func TestLineAndFieldError(t *testing.T) {
	c := mustParse(t, fullDoc)
	for field, want := range map[string]int{
		"server[0].listen":                   18,
		"server[0]":                          17,
		"host[0].rate_limit.key":             36,
		"host[1]":                            40,
		"host[1].missing":                    40,
		"host[2].proxy.upstreams[1]":         49,
		"tenant[0].hosts[0]":                 56,
		"host[0].headers.X-Frame-Options":    35,
		`host[0].headers."no such".whatever`: 35,
		"nothing":                            0,
	} {
		if got := c.Line(field); got != want {
			t.Errorf("Line(%q) = %d, want %d", field, got, want)
		}
	}
	e := c.FieldError("server[0].listen", ErrInvalid, "address in use")
	if e.File != "/etc/rockstar/rockstar.toml" || e.Line != 18 || e.Field != "server[0].listen" || e.Err != ErrInvalid {
		t.Errorf("FieldError = %+v", e)
	}
}

// rate_limit.ipv6_prefix keys IPv6 clients by a shorter or longer prefix
// than the default /64, and reaches the worker's limit.
func TestRateLimitIPv6Prefix(t *testing.T) {
	c := mustParse(t, "[[server]]\nlisten = \":8080\"\n[[host]]\nhostname = \"a.test\"\n"+
		"rate_limit = { requests_per_second = 1, key = \"client_ip\", ipv6_prefix = 48 }\n")
	if got, want := c.Hosts[0].RateLimit.IPv6Prefix, 48; got != want {
		t.Fatalf("IPv6Prefix = %d, want %d", got, want)
	}
	if got, want := c.Hosts[0].RateLimit.Worker().IPv6Prefix, 48; got != want {
		t.Fatalf("worker IPv6Prefix = %d, want %d", got, want)
	}
}

func TestParseCluster(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       Cluster
		bad        string // the field an error names
	}{
		{name: "off", toml: ``, want: Cluster{Machines: 1, Timeout: DefaultClusterTimeout, LeaseWindow: DefaultClusterLeaseWindow}},
		{name: "redis", toml: "[cluster]\nredis = \"redis://127.0.0.1:6379/0\"\nmachines = 4\ntimeout = \"20ms\"\nlease_window = \"250ms\"\n",
			want: Cluster{Redis: "redis://127.0.0.1:6379/0", Machines: 4, Timeout: 20 * time.Millisecond, LeaseWindow: 250 * time.Millisecond}},
		{name: "unix", toml: "[cluster]\nredis = \"unix:///run/redis.sock\"\n",
			want: Cluster{Redis: "unix:///run/redis.sock", Machines: 1, Timeout: DefaultClusterTimeout, LeaseWindow: DefaultClusterLeaseWindow}},
		{name: "scheme", toml: "[cluster]\nredis = \"http://x\"\n", bad: "cluster.redis"},
		{name: "no host", toml: "[cluster]\nredis = \"redis://\"\n", bad: "cluster.redis"},
		{name: "machines", toml: "[cluster]\nmachines = 0\n", bad: "cluster.machines"},
		{name: "timeout", toml: "[cluster]\ntimeout = \"0s\"\n", bad: "cluster.timeout"},
		{name: "lease window", toml: "[cluster]\nlease_window = \"1ms\"\n", bad: "cluster.lease_window"},
		{name: "unknown", toml: "[cluster]\nlease = 3\n", bad: "cluster.lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/etc/rockstar/rockstar.toml", []byte(tc.toml+"\n[[server]]\nlisten = \":8080\"\n"))
			if tc.bad != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Field != tc.bad {
					t.Fatalf("got %v, want an error in %s", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Cluster; got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestClusterLimitConfig: rate_limit.scope and on_cluster_failure, their
// defaults, and each problem named at its field.
func TestClusterLimitConfig(t *testing.T) {
	const redis = "[cluster]\nredis = \"redis://127.0.0.1:6379/0\"\n"
	parse := func(head, limit string) (*Config, error) {
		return Parse("/etc/rockstar/rockstar.toml", []byte(head+"[[server]]\nlisten = \":8080\"\n[[host]]\nhostname = \"a.test\"\ntenant = \"t\"\n"+
			"[[tenant]]\nid = \"t\"\nrate_limit = "+limit+"\n"))
	}
	c, err := parse(redis, `{ requests_per_second = 100, burst = 20, scope = "cluster" }`)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Tenants[0].RateLimit; r.Scope != ScopeCluster || r.OnClusterFailure != FailureLocal || !r.Cluster() {
		t.Errorf("got %+v, want scope cluster, on_cluster_failure local", r)
	}
	c, err = parse("", `{ requests_per_second = 100 }`)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Tenants[0].RateLimit; r.Scope != ScopeMachine || r.OnClusterFailure != "" || r.Cluster() {
		t.Errorf("got %+v, want scope machine", r)
	}
	c, err = parse(redis, `{ requests_per_second = 100, scope = "cluster", on_cluster_failure = "deny" }`)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Tenants[0].RateLimit; r.OnClusterFailure != FailureDeny {
		t.Errorf("got %+v, want on_cluster_failure deny", r)
	}
	for _, tc := range []struct {
		name, head, limit string
		sentinel          error
		field             string
	}{
		{"no redis", "", `{ requests_per_second = 1, scope = "cluster" }`, ErrMissing, "tenant[0].rate_limit.scope"},
		{"bad scope", redis, `{ requests_per_second = 1, scope = "fleet" }`, ErrInvalid, "tenant[0].rate_limit.scope"},
		{"bad policy", redis, `{ requests_per_second = 1, scope = "cluster", on_cluster_failure = "open" }`, ErrInvalid, "tenant[0].rate_limit.on_cluster_failure"},
		{"policy without cluster", redis, `{ requests_per_second = 1, on_cluster_failure = "deny" }`, ErrConflict, "tenant[0].rate_limit.on_cluster_failure"},
		{"per client", redis, `{ requests_per_second = 1, scope = "cluster", key = "client_ip" }`, ErrConflict, "tenant[0].rate_limit.scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.head, tc.limit)
			var ce *Error
			if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, tc.sentinel) || ce.Line == 0 {
				t.Fatalf("got %v, want %v at %s with a line", err, tc.sentinel, tc.field)
			}
		})
	}
}
