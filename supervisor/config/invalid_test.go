package config

import (
	"errors"
	"strings"
	"testing"
)

// want is one expected problem.
type want struct {
	line  int
	field string
	err   error
}

// srv is a valid [[server]] block of two lines, for documents whose
// problem is elsewhere.
const srv = "[[server]]\nlisten = \":8080\"\n"

var invalidCases = []struct {
	name string
	doc  string
	want []want
}{
	{"unknown key in server", srv + `lsten = ":9"` + "\n",
		[]want{{3, "server[0].lsten", ErrUnknownKey}}},
	{"unknown section", "[supervisr]\nworkers = 1\n" + srv,
		[]want{{1, "supervisr", ErrUnknownKey}}},
	{"unknown key in inline table", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { requests_per_second = 1, burts = 2 }\n",
		[]want{{5, "host[0].rate_limit.burts", ErrUnknownKey}}},
	{"unknown key in [log]", srv + "[log]\nlevel = \"info\"\ncolor = true\n",
		[]want{{5, "log.color", ErrUnknownKey}}},
	{"listen not a string", "[[server]]\nlisten = 8080\n",
		[]want{{2, "server[0].listen", ErrType}}},
	{"listen missing", "[[server]]\nprotocols = [\"http1\"]\n",
		[]want{{1, "server[0].listen", ErrMissing}}},
	{"listen without port", "[[server]]\nlisten = \"8080\"\n",
		[]want{{2, "server[0].listen", ErrInvalid}}},
	{"listen named port", "[[server]]\nlisten = \":http\"\n",
		[]want{{2, "server[0].listen", ErrInvalid}}},
	{"listen port too big", "[[server]]\nlisten = \"127.0.0.1:70000\"\n",
		[]want{{2, "server[0].listen", ErrInvalid}}},
	{"duplicate listen", srv + "\n[[server]]\nlisten = \":8080\"\n",
		[]want{{5, "server[1].listen", ErrDuplicate}}},
	{"no server", "[log]\nlevel = \"info\"\n",
		[]want{{0, "server", ErrMissing}}},
	{"server as a plain table", "[server]\nlisten = \":80\"\n",
		[]want{{1, "server", ErrType}}},
	{"admin on a server's address", srv + "[admin]\nlisten = \":8080\"\n",
		[]want{{4, "admin.listen", ErrConflict}}},
	{"admin listen bad", srv + "[admin]\nlisten = \"localhost\"\n",
		[]want{{4, "admin.listen", ErrInvalid}}},
	{"admin idle_timeout not a string", srv + "[admin]\nidle_timeout = 30\n",
		[]want{{4, "admin.idle_timeout", ErrType}}},
	{"admin idle_timeout zero", srv + "[admin]\nidle_timeout = \"0s\"\n",
		[]want{{4, "admin.idle_timeout", ErrInvalid}}},
	{"admin max_connections not an integer", srv + "[admin]\nmax_connections = \"8\"\n",
		[]want{{4, "admin.max_connections", ErrType}}},
	{"admin max_connections zero", srv + "[admin]\nmax_connections = 0\n",
		[]want{{4, "admin.max_connections", ErrInvalid}}},
	{"admin max_connections too many", srv + "[admin]\nmax_connections = 5000\n",
		[]want{{4, "admin.max_connections", ErrInvalid}}},
	{"admin hosts not an array", srv + "[admin]\nhosts = \"a.test\"\n",
		[]want{{4, "admin.hosts", ErrType}}},
	{"admin hosts entry not a string", srv + "[admin]\nhosts = [\"a.test\", 1]\n",
		[]want{{4, "admin.hosts[1]", ErrType}}},
	{"admin hosts wildcard", srv + "[admin]\nhosts = [\"*.a.test\"]\n",
		[]want{{4, "admin.hosts[0]", ErrInvalid}}},
	{"admin hosts bad name", srv + "[admin]\nhosts = [\"a.test\", \"not a name\"]\n",
		[]want{{4, "admin.hosts[1]", ErrInvalid}}},
	{"trusted_proxies not a list", srv + "trusted_proxies = \"10.0.0.0/8\"\n",
		[]want{{3, "server[0].trusted_proxies", ErrType}}},
	{"trusted_proxies entry not a string", srv + "trusted_proxies = [\"10.0.0.1\", 8]\n",
		[]want{{3, "server[0].trusted_proxies[1]", ErrType}}},
	{"trusted_proxies bad prefix", srv + "trusted_proxies = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n",
		[]want{{5, "server[0].trusted_proxies[1]", ErrInvalid}}},
	{"trusted_proxies host bits", srv + "trusted_proxies = [\"10.1.2.3/8\"]\n",
		[]want{{3, "server[0].trusted_proxies[0]", ErrInvalid}}},
	{"trusted_proxies not an address", srv + "trusted_proxies = [\"lb.example.com\"]\n",
		[]want{{3, "server[0].trusted_proxies[0]", ErrInvalid}}},
	{"trusted_proxies zone", srv + "trusted_proxies = [\"fe80::1%eth0\"]\n",
		[]want{{3, "server[0].trusted_proxies[0]", ErrInvalid}}},
	{"trusted_proxies duplicate", srv + "trusted_proxies = [\"127.0.0.1\", \"127.0.0.1/32\"]\n",
		[]want{{3, "server[0].trusted_proxies[1]", ErrDuplicate}}},
	{"real_ip_header unknown", srv + "trusted_proxies = [\"10.0.0.0/8\"]\nreal_ip_header = \"X-Real-IP\"\n",
		[]want{{4, "server[0].real_ip_header", ErrInvalid}}},
	{"real_ip_header without trusted_proxies", srv + "real_ip_header = \"Forwarded\"\n",
		[]want{{3, "server[0].real_ip_header", ErrConflict}}},
	{"proxy_protocol not a boolean", srv + "proxy_protocol = \"yes\"\n",
		[]want{{3, "server[0].proxy_protocol", ErrType}}},
	{"bare integer duration", srv + "read_timeout = 30\n",
		[]want{{3, "server[0].read_timeout", ErrType}}},
	{"bad duration", srv + "idle_timeout = \"30 seconds\"\n",
		[]want{{3, "server[0].idle_timeout", ErrInvalid}}},
	{"negative duration", "[supervisor]\nshutdown_timeout = \"-1s\"\n" + srv,
		[]want{{2, "supervisor.shutdown_timeout", ErrInvalid}}},
	{"workers zero", "[supervisor]\nworkers = 0\n" + srv,
		[]want{{2, "supervisor.workers", ErrInvalid}}},
	{"workers too many", "[supervisor]\nworkers = 100000\n" + srv,
		[]want{{2, "supervisor.workers", ErrInvalid}}},
	{"workers word", "[supervisor]\nworkers = \"many\"\n" + srv,
		[]want{{2, "supervisor.workers", ErrInvalid}}},
	{"workers float", "[supervisor]\nworkers = 1.5\n" + srv,
		[]want{{2, "supervisor.workers", ErrType}}},
	{"control socket empty", "[supervisor]\ncontrol_socket = \"\"\n" + srv,
		[]want{{2, "supervisor.control_socket", ErrInvalid}}},
	{"control socket too long", "[supervisor]\ncontrol_socket = \"/" + strings.Repeat("x", 120) + "\"\n" + srv,
		[]want{{2, "supervisor.control_socket", ErrInvalid}}},
	{"unknown protocol on its own line", srv + "protocols = [\n  \"http1\",\n  \"spdy\",\n]\n",
		[]want{{5, "server[0].protocols[1]", ErrInvalid}}},
	{"protocol twice", srv + "protocols = [\"http1\", \"http1\"]\n",
		[]want{{3, "server[0].protocols[1]", ErrDuplicate}}},
	{"no protocols", srv + "protocols = []\n",
		[]want{{3, "server[0].protocols", ErrInvalid}}},
	{"protocol not a string", srv + "protocols = [\"http1\", 2]\n",
		[]want{{3, "server[0].protocols[1]", ErrType}}},
	{"http2 and http3 without TLS", srv + "protocols = [\"http1\", \"http2\", \"http3\"]\n",
		[]want{{3, "server[0].protocols[1]", ErrConflict}, {3, "server[0].protocols[2]", ErrConflict}}},
	{"h2c with TLS", srv + "protocols = [\"http1\", \"h2c\"]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
		[]want{{3, "server[0].protocols[1]", ErrConflict}}},
	{"tls_cert without tls_key", srv + "tls_cert = \"c.pem\"\n",
		[]want{{1, "server[0].tls_key", ErrMissing}}},
	{"max_header_bytes above the buffer", srv + "max_header_bytes = 1048576\n",
		[]want{{3, "server[0].max_header_bytes", ErrInvalid}}},
	{"max_connections zero", srv + "max_connections = 0\n",
		[]want{{3, "server[0].max_connections", ErrInvalid}}},
	{"event_loop not a bool", srv + "event_loop = \"yes\"\n",
		[]want{{3, "server[0].event_loop", ErrType}}},
	{"log level", srv + "[log]\nlevel = \"verbose\"\n",
		[]want{{4, "log.level", ErrInvalid}}},
	{"log format", srv + "[log]\nformat = \"xml\"\n",
		[]want{{4, "log.format", ErrInvalid}}},
	{"access log format", srv + "[log]\naccess_log_format = \"main\"\n",
		[]want{{4, "log.access_log_format", ErrInvalid}}},
	{"invalid hostname", srv + "[[host]]\nhostname = \"bad_host\"\n",
		[]want{{4, "host[0].hostname", ErrInvalid}}},
	{"hostname missing", srv + "[[host]]\nroot = \"x\"\n",
		[]want{{3, "host[0].hostname", ErrMissing}}},
	{"duplicate hostname, other case", srv + "[[host]]\nhostname = \"A.example.com\"\n[[host]]\nhostname = \"a.example.com.\"\n",
		[]want{{6, "host[1].hostname", ErrDuplicate}}},
	{"host names a missing tenant", srv + "[[host]]\nhostname = \"a.test\"\ntenant = \"nope\"\n",
		[]want{{5, "host[0].tenant", ErrReference}}},
	{"tenant lists a missing host", srv + "[[host]]\nhostname = \"a.test\"\n[[tenant]]\nid = \"t\"\nhosts = [\"a.test\",\n  \"b.test\"]\n",
		[]want{{8, "tenant[0].hosts[1]", ErrReference}}},
	{"tenant lists a host twice", srv + "[[host]]\nhostname = \"a.test\"\n[[tenant]]\nid = \"t\"\nhosts = [\"a.test\", \"A.test\"]\n",
		[]want{{7, "tenant[0].hosts[1]", ErrDuplicate}}},
	{"host in two tenants", srv + "[[host]]\nhostname = \"a.test\"\n[[tenant]]\nid = \"t1\"\nhosts = [\"a.test\"]\n[[tenant]]\nid = \"t2\"\nhosts = [\"a.test\"]\n",
		[]want{{10, "tenant[1].hosts[0]", ErrDuplicate}}},
	{"host's tenant disagrees", srv + "[[host]]\nhostname = \"a.test\"\ntenant = \"t2\"\n[[tenant]]\nid = \"t1\"\nhosts = [\"a.test\"]\n[[tenant]]\nid = \"t2\"\nhosts = []\n",
		[]want{{5, "host[0].tenant", ErrReference}, {11, "tenant[1].hosts", ErrMissing}}},
	{"tenant without hosts", srv + "[[tenant]]\nid = \"t\"\n",
		[]want{{3, "tenant[0].hosts", ErrMissing}}},
	{"tenant id bad", srv + "[[tenant]]\nid = \"a b\"\nhosts = []\n",
		[]want{{4, "tenant[0].id", ErrInvalid}, {5, "tenant[0].hosts", ErrMissing}}},
	{"duplicate tenant id", srv + "[[host]]\nhostname = \"a.test\"\n[[host]]\nhostname = \"b.test\"\n" +
		"[[tenant]]\nid = \"t\"\nhosts = [\"a.test\"]\n[[tenant]]\nid = \"t\"\nhosts = [\"b.test\"]\n",
		[]want{{11, "tenant[1].id", ErrDuplicate}}},
	{"tenant host invalid", srv + "[[tenant]]\nid = \"t\"\nhosts = [\"-x-\"]\n",
		[]want{{5, "tenant[0].hosts[0]", ErrInvalid}}},
	{"root and respond", srv + "[[host]]\nhostname = \"a.test\"\nroot = \"www\"\nrespond = \"hi\"\n",
		[]want{{6, "host[0].respond", ErrConflict}}},
	{"respond and proxy", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"hi\"\nproxy = { upstreams = [\"b:1\"] }\n",
		[]want{{6, "host[0].proxy", ErrConflict}}},
	{"empty respond is no respond", srv + "[[host]]\nhostname = \"a.test\"\nroot = \"www\"\nrespond = \"\"\n",
		nil},
	{"dotfiles without root", srv + "[[host]]\nhostname = \"a.test\"\ndotfiles = true\n",
		[]want{{5, "host[0].dotfiles", ErrConflict}}},
	{"cache_control and fallback problems", srv + "[[host]]\nhostname = \"a.test\"\nroot = \"www\"\nfallback = \"index.html\"\n" +
		"cache_control = { \"assets/*\" = \"x\" }\n",
		[]want{{6, "host[0].fallback", ErrInvalid}, {7, `host[0].cache_control."assets/*"`, ErrInvalid}}},
	{"fallback without root", srv + "[[host]]\nhostname = \"a.test\"\nfallback = \"/index.html\"\n",
		[]want{{5, "host[0].fallback", ErrConflict}}},
	{"precompressed without root", srv + "[[host]]\nhostname = \"a.test\"\nprecompressed = false\n",
		[]want{{5, "host[0].precompressed", ErrConflict}}},
	{"dotfiles not a boolean", srv + "[[host]]\nhostname = \"a.test\"\nroot = \"www\"\ndotfiles = \"yes\"\n",
		[]want{{6, "host[0].dotfiles", ErrType}}},
	{"respond_status out of range", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\nrespond_status = 700\n",
		[]want{{6, "host[0].respond_status", ErrInvalid}}},
	{"respond_status without respond", srv + "[[host]]\nhostname = \"a.test\"\nrespond_status = 204\n",
		[]want{{5, "host[0].respond_status", ErrConflict}}},
	{"content_type with a newline", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\ncontent_type = \"a\\nb\"\n",
		[]want{{6, "host[0].content_type", ErrInvalid}}},
	{"bad header name", srv + "[[host]]\nhostname = \"a.test\"\n[host.headers]\n\"Bad Header\" = \"x\"\nX-Ok = 1\n",
		[]want{{6, `host[0].headers."Bad Header"`, ErrInvalid}, {7, "host[0].headers.X-Ok", ErrType}}},
	{"same header twice", srv + "[[host]]\nhostname = \"a.test\"\nheaders = { X-A = \"1\", x-a = \"2\" }\n",
		[]want{{5, "host[0].headers.x-a", ErrDuplicate}}},
	{"rate limit without rate", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { burst = 1 }\n",
		[]want{{5, "host[0].rate_limit.requests_per_second", ErrMissing}}},
	{"rate limit values", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { requests_per_second = 0, burst = 1 }\n" +
		"[[host]]\nhostname = \"b.test\"\nrate_limit.requests_per_second = 1\nrate_limit.burst = -1\n",
		[]want{{5, "host[0].rate_limit.requests_per_second", ErrInvalid}, {9, "host[1].rate_limit.burst", ErrInvalid}}},
	{"rate limit in a sub-table of the second host", srv + "[[host]]\nhostname = \"a.test\"\n[[host]]\nhostname = \"b.test\"\n" +
		"[host.rate_limit]\nrequests_per_second = 1\nkey = \"ip\"\n",
		[]want{{9, "host[1].rate_limit.key", ErrInvalid}}},
	{"rate limit size without client_ip", srv + "[[tenant]]\nid = \"t\"\nhosts = []\nrate_limit = { requests_per_second = 1, size = 5 }\n",
		[]want{{5, "tenant[0].hosts", ErrMissing}, {6, "tenant[0].rate_limit.size", ErrConflict}}},
	{"ipv6 prefix without client_ip", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { requests_per_second = 1, ipv6_prefix = 64 }\n",
		[]want{{5, "host[0].rate_limit.ipv6_prefix", ErrConflict}}},
	{"ipv6 prefix values", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { requests_per_second = 1, key = \"client_ip\", ipv6_prefix = 60 }\n" +
		"[[host]]\nhostname = \"b.test\"\nrate_limit = { requests_per_second = 1, key = \"client_ip\", ipv6_prefix = 32 }\n" +
		"[[host]]\nhostname = \"c.test\"\nrate_limit = { requests_per_second = 1, key = \"client_ip\", ipv6_prefix = 136 }\n",
		[]want{{5, "host[0].rate_limit.ipv6_prefix", ErrInvalid}, {8, "host[1].rate_limit.ipv6_prefix", ErrInvalid}, {11, "host[2].rate_limit.ipv6_prefix", ErrInvalid}}},
	{"rate not a number", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { requests_per_second = \"fast\" }\n",
		[]want{{5, "host[0].rate_limit.requests_per_second", ErrType}}},
	{"rate is nan", srv + "[[host]]\nhostname = \"a.test\"\nrate_limit = { requests_per_second = nan }\n",
		[]want{{5, "host[0].rate_limit.requests_per_second", ErrInvalid}}},
	{"proxy problems", srv + "[[host]]\nhostname = \"a.test\"\n[host.proxy]\nupstreams = [\"b:1\", \"nohost\", \"b:1\"]\n" +
		"strategy = \"fastest\"\nhealth_interval = \"5s\"\nretries = 1000\n",
		[]want{{6, "host[0].proxy.upstreams[1]", ErrInvalid}, {6, "host[0].proxy.upstreams[2]", ErrDuplicate},
			{7, "host[0].proxy.strategy", ErrInvalid}, {8, "host[0].proxy.health_interval", ErrConflict},
			{9, "host[0].proxy.retries", ErrInvalid}}},
	{"proxy tunnel idle timeout", srv + "[[host]]\nhostname = \"a.test\"\n[host.proxy]\nupstreams = [\"b:1\"]\n" +
		"tunnel_idle_timeout = 30\n[[host]]\nhostname = \"b.test\"\nproxy = { upstreams = [\"b:1\"], tunnel_idle_timeout = \"0s\" }\n",
		[]want{{7, "host[0].proxy.tunnel_idle_timeout", ErrType}, {10, "host[1].proxy.tunnel_idle_timeout", ErrInvalid}}},
	{"proxy without upstreams", srv + "[[host]]\nhostname = \"a.test\"\nproxy = {}\n",
		[]want{{5, "host[0].proxy.upstreams", ErrMissing}}},
	{"syntax: unterminated string", "[[server]]\nlisten = \":8080\n",
		[]want{{2, "", ErrSyntax}}},
	{"syntax: key defined twice", srv + "listen = \":9090\"\n",
		[]want{{3, "", ErrSyntax}}},
	{"several problems in line order", "[log]\nlevel = 1\n" + srv + "read_timeout = 5\n[[host]]\nhostname = \"a..b\"\nextra = true\n",
		[]want{{2, "log.level", ErrType}, {5, "server[0].read_timeout", ErrType},
			{7, "host[0].hostname", ErrInvalid}, {8, "host[0].extra", ErrUnknownKey}}},
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.doc)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if c != nil {
				t.Errorf("got a Config along with the error")
			}
			got := problems(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.File != "/etc/rockstar/rockstar.toml" || g.Line != w.line || g.Field != w.field || !errors.Is(g, w.err) {
					t.Errorf("problem %d: got %s:%d %q %v (%s)\nwant line %d field %q %v", i, g.File, g.Line, g.Field, g.Err, g.Problem, w.line, w.field, w.err)
				}
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "rockstar.toml", Line: 12, Field: "host[1].rate_limit.burst", Problem: "must be >= 0"},
			"rockstar.toml:12: host[1].rate_limit.burst: must be >= 0"},
		{Error{File: "r.toml", Line: 3, Problem: "toml: bad"}, "r.toml:3: toml: bad"},
		{Error{File: "r.toml", Field: "server", Problem: "required"}, "r.toml: server: required"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
