package config

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// Defaults for fields left out of the file. Paths are relative to the
// directory of the config file.
const (
	// DefaultControlSocket is where the master listens for the CLI. It
	// lives next to the config so that a non-root user can run the bundled
	// example on a fresh clone; the supervisor creates its directory, when
	// missing, with mode 0700 (CheckSocketPath says what it refuses).
	DefaultControlSocket = "run/rockstar.sock"
	// DefaultPIDFile is where the master that is serving writes its pid.
	DefaultPIDFile = "run/rockstar.pid"
	// DefaultShutdownTimeout bounds a graceful stop or the drain of an old
	// generation of workers: the workers' graceful shutdown.
	DefaultShutdownTimeout = worker.DefaultShutdownTimeout
	// DefaultLogLevel is the log level.
	DefaultLogLevel = "info"
	// DefaultAdminListen is where the admin endpoint listens: loopback only.
	DefaultAdminListen = "127.0.0.1:9090"
	// DefaultAdminIdleTimeout is how long the admin endpoint keeps an idle
	// keep-alive connection open.
	DefaultAdminIdleTimeout = 30 * time.Second
	// DefaultAdminMaxConnections is how many connections the admin endpoint
	// serves at once; more wait in the kernel's accept queue.
	DefaultAdminMaxConnections = 64
	// MaxAdminConnections bounds admin.max_connections.
	MaxAdminConnections = 4096
	// DefaultRespondStatus is the status of a respond host.
	DefaultRespondStatus = 200
	// DefaultContentType is the Content-Type of a respond host.
	DefaultContentType = "text/plain; charset=utf-8"
	// DefaultClientTableSize is the number of clients a per-client rate
	// limit tracks before it evicts the least recently used.
	DefaultClientTableSize = worker.DefaultClientTableSize
	// MaxClientTableSize bounds rate_limit.size, so that a typo cannot
	// make the master map gigabytes of shared memory.
	MaxClientTableSize = worker.MaxClientTableSize
	// DefaultIPv6Prefix is rate_limit.ipv6_prefix: with key = "client_ip",
	// IPv6 clients of one /64 (what one subscriber is given) share a
	// bucket.
	DefaultIPv6Prefix = worker.DefaultIPv6Prefix
	// MinIPv6Prefix is the shortest rate_limit.ipv6_prefix.
	MinIPv6Prefix = worker.MinIPv6Prefix
	// MaxWorkers bounds supervisor.workers, so that a typo cannot fork-bomb
	// the machine.
	MaxWorkers = 1024
	// MaxUnixSocketPath is the longest control socket path Linux accepts
	// (sun_path holds 108 bytes with the terminating NUL).
	MaxUnixSocketPath = 107

	// The proxy defaults are the reverse proxy's own (package
	// worker/proxy), where their behaviour lives.

	// DefaultProxyStrategy is the load-balancing strategy of a proxy host.
	DefaultProxyStrategy = StrategyRoundRobin
	// DefaultHealthInterval is the pause between active health checks.
	DefaultHealthInterval = proxy.DefaultHealthInterval
	// DefaultFailTimeout is the window in which MaxFails errors mark an
	// upstream down, and how long it then stays down.
	DefaultFailTimeout = proxy.DefaultFailTimeout
	// DefaultMaxFails is the number of errors that mark an upstream down.
	DefaultMaxFails = proxy.DefaultMaxFails
	// DefaultProxyTimeout bounds one upstream request.
	DefaultProxyTimeout = proxy.DefaultTimeout
	// DefaultRetries is the number of other upstreams an idempotent request
	// that failed to connect is retried on.
	DefaultRetries = proxy.DefaultRetries
	// DefaultTunnelIdleTimeout closes a proxied WebSocket tunnel that has
	// carried nothing either way for this long.
	DefaultTunnelIdleTimeout = proxy.DefaultTunnelIdleTimeout
)

// Protocols a [[server]] may serve.
const (
	ProtocolHTTP1 = "http1"
	ProtocolHTTP2 = "http2" // needs TLS
	ProtocolHTTP3 = "http3" // needs TLS; served on the UDP port of the same address
	// ProtocolH2C is HTTP/2 without TLS, by prior knowledge (a client that
	// opens with HTTP/2's preface), beside HTTP/1.1; only without TLS.
	ProtocolH2C = "h2c"
)

// Log formats; "" picks console on a terminal and json otherwise.
const (
	LogFormatConsole = "console"
	LogFormatJSON    = "json"
)

// AccessLogStderr is Log.AccessLog's value for standard error ("-" in the
// file is stored as this).
const AccessLogStderr = "stderr"

// Access log formats, Log.AccessLogFormat's values.
const (
	AccessLogJSON     = worker.AccessLogJSON
	AccessLogCombined = worker.AccessLogCombined
)

// Rate limit scopes (rate_limit.scope) and what a cluster-scoped limit does
// without Redis (rate_limit.on_cluster_failure).
const (
	// ScopeMachine: the limit is this machine's, kept exact across its
	// workers in shared memory.
	ScopeMachine = "machine"
	// ScopeCluster: one limit for every machine of the cluster, in Redis.
	ScopeCluster = "cluster"
	// DefaultRateLimitScope is rate_limit.scope's default.
	DefaultRateLimitScope = ScopeMachine
	// FailureLocal: with Redis away, each machine admits its share.
	FailureLocal = "local"
	// FailureDeny: with Redis away, the limit admits nothing.
	FailureDeny = "deny"
	// DefaultClusterFailure is rate_limit.on_cluster_failure's default.
	DefaultClusterFailure = FailureLocal
)

// KeyClientIP is the rate_limit.key that limits each client IP separately.
const KeyClientIP = worker.KeyClientIP

// Proxy load-balancing strategies: the reverse proxy's (package
// worker/proxy), under the names of the config file.
const (
	StrategyRoundRobin = proxy.RoundRobin
	StrategyLeastConn  = proxy.LeastConn
	StrategyIPHash     = proxy.IPHash
	StrategyRandomTwo  = proxy.RandomTwo // power of two random choices
)

// Config is a loaded, validated and resolved config file.
type Config struct {
	// Path is the absolute path of the file it was loaded from.
	Path string
	// Supervisor is the [supervisor] section.
	Supervisor Supervisor
	// Log is the [log] section.
	Log Log
	// Admin is the [admin] section.
	Admin Admin
	// Cluster is the [cluster] section.
	Cluster Cluster
	// ACME is the [acme] section.
	ACME ACME
	// Servers are the [[server]] sections, in file order; at least one.
	Servers []Server
	// Hosts are the [[host]] sections, in file order.
	Hosts []Host
	// Tenants are the [[tenant]] sections, in file order.
	Tenants []Tenant

	name string // the path as given, for errors
	pos  positions

	data      []byte               // the file's contents
	doc       map[string]any       // the file's document with the state on top
	state     *State               // the state on top, nil for none
	origin    map[string]objectRef // the tables of doc that came from state
	statePath string               // where state was read
}

// Supervisor configures the master process.
type Supervisor struct {
	// Workers is the number of worker processes, 1 to MaxWorkers. Default
	// "auto": CPUs(), the CPUs this process may use (its affinity mask and
	// its container's CPU quota), resolved at load time.
	Workers int
	// WorkersAuto is set when Workers came from "auto" (or the default).
	WorkersAuto bool
	// ControlSocket is the absolute path of the CLI's Unix socket, at most
	// MaxUnixSocketPath bytes. Default DefaultControlSocket.
	ControlSocket string
	// PIDFile is the absolute path of the pid file. Default DefaultPIDFile;
	// an explicit "" writes none.
	PIDFile string
	// ShutdownTimeout bounds graceful stops and drains. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StopSignalGraceful makes SIGTERM (and SIGINT) stop gracefully, as
	// SIGQUIT does: the workers drain within ShutdownTimeout. Default (when
	// StopSignalGracefulSet is false): true when the master runs as PID 1
	// or under Kubernetes (KUBERNETES_SERVICE_HOST set), where SIGTERM is
	// the only stop signal a container gets, else false: SIGTERM stops at
	// once, as nginx does. See TermGraceful.
	StopSignalGraceful bool
	// StopSignalGracefulSet is set when the file gives stop_signal_graceful.
	StopSignalGracefulSet bool
	// User and Group are what workers run as when the master starts as
	// root: names or numeric ids. Default "": the master's own.
	User, Group string
}

// Log configures logging.
type Log struct {
	// Level is one of trace, debug, info, warn, error. Default
	// DefaultLogLevel.
	Level string
	// Format is LogFormatConsole, LogFormatJSON, or "" (the default) for
	// console on a terminal and json otherwise.
	Format string
	// AccessLog is the absolute path of the access log, AccessLogStderr
	// ("-" or "stderr" in the file), or "" (the default) for none.
	AccessLog string
	// AccessLogFormat is AccessLogJSON or AccessLogCombined (nginx's
	// combined format, then Rockstar's fields as key=value pairs); see
	// worker.ServerConfig.AccessLogFormat for the fields. Default
	// AccessLogJSON.
	AccessLogFormat string
}

// ZerologLevel is Level as the logger's; unknown levels mean info.
func (l Log) ZerologLevel() zerolog.Level {
	lv, err := zerolog.ParseLevel(l.Level)
	if err != nil || l.Level == "" {
		return zerolog.InfoLevel
	}
	return lv
}

// Admin configures the admin HTTP endpoint (/healthz, /readyz, /metrics,
// /status, and with TokenFile the runtime API /v1) and the runtime API's
// state.
type Admin struct {
	// Listen is the endpoint's address. Default DefaultAdminListen; an
	// explicit "" disables the endpoint. Any address may be given, such as
	// "0.0.0.0:9090" for a container's probes and Prometheus: every
	// endpoint is read-only (GET), so there is nothing to authenticate.
	Listen string
	// IdleTimeout closes a keep-alive connection idle this long. Default
	// DefaultAdminIdleTimeout.
	IdleTimeout time.Duration
	// MaxConnections is how many connections are served at once, 1 to
	// MaxAdminConnections; further ones wait, unaccepted, until one closes.
	// Default DefaultAdminMaxConnections.
	MaxConnections int
	// Hosts are more names (lower case, no trailing dot) that a request's
	// Host may give: besides them the endpoint answers only IP addresses,
	// "localhost" and Listen's own host, and 421 to any other name, so that
	// a web page whose name was rebound to 127.0.0.1 cannot read it.
	// Default none.
	Hosts []string
	// TokenFile (token_file) is the absolute path of a file whose
	// contents, trimmed of white space, are the bearer token that the
	// runtime API (/v1/...) requires on this endpoint. Default "": the
	// endpoint refuses /v1 with 403, and the API is on the control
	// socket only.
	TokenFile string
	// StateFile (state_file) is the absolute path where the runtime API's
	// changes are kept (State), loaded on top of the config at every start
	// and reload. Default DefaultStateFile of the config's path
	// ("rockstar.state.json" beside "rockstar.toml"); an explicit ""
	// turns the API's changes off (they are refused).
	StateFile string
}

// Server is one listening address.
type Server struct {
	// Listen is the address, "host:port" or ":port"; required. Port 0 picks
	// a free port.
	Listen string
	// Protocols are some of ProtocolHTTP1, ProtocolHTTP2, ProtocolHTTP3
	// (these two with TLS) and ProtocolH2C (without), in file order,
	// without repeats. Default [ProtocolHTTP1].
	Protocols []string
	// ReadTimeout bounds reading one request. Default worker.DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default worker.DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next keep-alive request. Default
	// worker.DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes limits the request line and headers, at most
	// worker.MaxHeaderBufferBytes. Default worker.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConnections limits open connections per worker. Default
	// worker.DefaultMaxConnections.
	MaxConnections int
	// MaxRequestSize limits a request body in bytes. Default
	// worker.DefaultMaxRequestSize.
	MaxRequestSize int64
	// EventLoop (event_loop): on Linux, a plain-TCP listener's connections
	// start on each worker's epoll event loop, which answers respond hosts'
	// requests itself and hands every other connection to a goroutine;
	// false gives every connection a goroutine from the start (see
	// worker.ServerConfig.DisableEventLoop). TLS listeners have no loop.
	// Default true.
	EventLoop bool
	// TLSCert and TLSKey are the absolute paths of the listener's default
	// certificate pair; both or neither. Default "": plain TCP. HTTP/2 and
	// HTTP/3 need them (or TLSAuto). Hosts' own pairs are picked by SNI
	// on top.
	TLSCert, TLSKey string
	// TLSAuto (tls = "auto") makes the listener TLS with certificates
	// from the [acme] section's CA, picked by SNI. Without
	// acme.on_demand it gives every host without a tls_cert of its own a
	// certificate from the CA (as its tls = "auto" would); with it, they
	// get theirs at their first handshake. TLSCert, if set too, is the
	// certificate of names that have none. Default false.
	TLSAuto bool
	// TrustedProxies (trusted_proxies) are the load balancers and proxies
	// in front of the listener, as CIDR prefixes or single addresses
	// ("10.0.0.0/8", "127.0.0.1", "::1/128"; an address is its /32 or
	// /128). A request whose connection comes from one of them takes its
	// client address from RealIPHeader, walked from the right past trusted
	// hops (nginx's real_ip_recursive); headers from other peers are
	// ignored. The client address is what rate limits keyed by client_ip,
	// the access log, handlers and proxies see (see
	// worker.ServerConfig.TrustedProxies). Default none.
	TrustedProxies []netip.Prefix
	// RealIPHeader (real_ip_header) is the header TrustedProxies are read
	// from: RealIPXForwardedFor or RealIPForwarded (RFC 7239's for=);
	// written in any case in the file. Default RealIPXForwardedFor.
	RealIPHeader string
	// ProxyProtocol (proxy_protocol) requires a PROXY protocol header (v1
	// or v2, from HAProxy, an AWS NLB, ...) at the start of every TCP
	// connection, TLS or not, and takes its source address as the
	// connection's. A connection without one is closed unanswered, as
	// nginx's "listen ... proxy_protocol" does; with TrustedProxies, so is
	// every connection whose socket peer is not among them. The listener
	// has no event loop then. HTTP/3 is not affected. Default false.
	ProxyProtocol bool
}

// Values of Server.RealIPHeader.
const (
	RealIPXForwardedFor = worker.RealIPXForwardedFor
	RealIPForwarded     = worker.RealIPForwarded
)

// TLS reports whether the server terminates TLS.
func (s *Server) TLS() bool { return s.TLSCert != "" || s.TLSAuto }

// Serves reports whether the server serves protocol p.
func (s *Server) Serves(p string) bool { return slices.Contains(s.Protocols, p) }

// Host is one virtual host. It serves at most one of Root, Respond and
// Proxy; with none of them it has only the routes registered in code.
type Host struct {
	// Hostname is the host's name in canonical form (lower case, no
	// trailing dot), "*.example.com" for a one-label wildcard; required and
	// unique.
	Hostname string
	// Tenant is the ID of the host's tenant, whether the host names it or
	// the tenant lists the host; "" for none.
	Tenant string
	// Root is the absolute path of the directory of static files. Default "".
	Root string
	// Dotfiles ("dotfiles") serves the files under Root whose path has an
	// element beginning with "." (.env, .git/config); only with Root.
	// Default false: they get 404, as if absent, but for .well-known
	// (RFC 8615: ACME challenges, security.txt), which is always served.
	Dotfiles bool
	// Precompressed ("precompressed") serves a file's precompressed
	// sibling (file.br, file.zst, file.gz) to clients that accept its
	// encoding, as nginx's gzip_static; only with Root. Default true.
	Precompressed bool
	// Compression ("compression") compresses files of Root of compressible
	// types (text, JSON, JavaScript, XML, SVG, WebAssembly) of 1 KiB to
	// 8 MiB for clients that accept br, zstd or gzip, once per change of a
	// file; only with Root. Default true.
	Compression bool
	// CacheControl ("cache_control", a table) sets Cache-Control on the
	// files of Root by path pattern: "/favicon.ico", "/assets/*" (a
	// prefix) or "*"; an exact path wins, then the longest prefix; only
	// with Root. Default none.
	CacheControl map[string]string
	// Fallback ("fallback") is the file of Root served, with 200, for a
	// GET or HEAD whose path names nothing there, as nginx's try_files
	// $uri /index.html for single-page apps; only with Root. Default "":
	// 404.
	Fallback string
	// Respond is a fixed body answered to every request. Default "": none.
	Respond string
	// RespondStatus is the status of Respond's answers, 100 to 599.
	// Default DefaultRespondStatus.
	RespondStatus int
	// ContentType is the Content-Type of Respond's answers. Default
	// DefaultContentType.
	ContentType string
	// Headers are set on every response of the host. Default none.
	Headers map[string]string
	// RateLimit limits the host's requests. Default nil: unlimited.
	RateLimit *RateLimit
	// TLSCert and TLSKey are the absolute paths of the host's certificate
	// pair, picked by SNI; both or neither. Default "".
	TLSCert, TLSKey string
	// TLSAuto (tls = "auto") gets the host's certificate from the [acme]
	// section's CA: the master obtains it at start (and when the host is
	// added) and renews it before it expires; not with TLSCert, nor on a
	// wildcard host. Default false.
	TLSAuto bool
	// Proxy forwards the host's requests to upstream servers. Default nil.
	Proxy *Proxy
	// Cache (cache, a table) keeps the host's proxied or generated (respond)
	// answers in memory shared by the machine's workers (see Cache); not
	// with Root, whose files are served from memory already. Default nil:
	// no cache.
	Cache *Cache
}

// Tenant groups hosts under one ID and one shared budget.
type Tenant struct {
	// ID is the tenant's unique name: 1 to 64 letters, digits, '.', '_' or
	// '-'; required.
	ID string
	// Hosts are the canonical names of the tenant's hosts: those the
	// tenant lists, in its order, then those that name the tenant without
	// being listed, in file order. At least one.
	Hosts []string
	// RateLimit is one budget for all the tenant's hosts together. Default
	// nil: unlimited.
	RateLimit *RateLimit
	// CacheQuota (cache_quota, a size like "64MB") caps the cache memory
	// of all the tenant's cached hosts together; past it the tenant's
	// oldest entries are evicted, and no other tenant's. Default 0: the
	// sum of its hosts' cache.max_size.
	CacheQuota int64
}

// RateLimit is a GCRA limit: RequestsPerSecond on average, Burst at once.
type RateLimit struct {
	// RequestsPerSecond is the sustained rate, > 0; required.
	RequestsPerSecond float64
	// Burst is how many requests may pass at once, >= 0; 0 (the default)
	// means 1.
	Burst int
	// Key is "" (the default) for one bucket for the whole host or tenant,
	// or KeyClientIP for one bucket per client IP.
	Key string
	// Size is the number of clients tracked with KeyClientIP, 1 to
	// MaxClientTableSize. Default DefaultClientTableSize; 0 when Key is "".
	Size int
	// IPv6Prefix is how many leading bits of an IPv6 client's address
	// are its key with KeyClientIP: a multiple of 8 from MinIPv6Prefix to
	// 128 (one bucket per address). Default DefaultIPv6Prefix; 0 when Key
	// is "".
	IPv6Prefix int
	// Scope (scope) is ScopeMachine for a budget of this machine's own,
	// or ScopeCluster for one budget shared by every machine of the
	// [cluster] section's Redis (which must be set), leased to each
	// machine in shares (see package supervisor/cluster); only for a
	// limit without a Key. Default DefaultRateLimitScope.
	Scope string
	// OnClusterFailure (on_cluster_failure) is what a cluster-scoped
	// limit does while Redis is unreachable: FailureLocal admits the
	// machine's share (the limit and burst ÷ cluster.machines),
	// FailureDeny admits nothing. Default DefaultClusterFailure; "" for a
	// machine-scoped limit.
	OnClusterFailure string
}

// Cluster reports whether the limit's budget is the cluster's.
func (r *RateLimit) Cluster() bool { return r != nil && r.Scope == ScopeCluster }

// Worker returns the limit in the worker package's form; a cluster-scoped
// one has Placement "cluster:local" or "cluster:deny", after its
// on_cluster_failure.
func (r *RateLimit) Worker() *worker.RateLimitConfig {
	if r == nil {
		return nil
	}
	w := &worker.RateLimitConfig{Enabled: true, RequestsPerSecond: r.RequestsPerSecond, BurstSize: r.Burst, Key: r.Key, Size: r.Size, IPv6Prefix: r.IPv6Prefix}
	if r.Cluster() {
		// A bucket of leased tokens (package supervisor/wire).
		w.Placement = ScopeCluster + ":" + cmp.Or(r.OnClusterFailure, DefaultClusterFailure)
	}
	return w
}

// Proxy forwards a host's requests to a pool of upstream servers.
type Proxy struct {
	// Upstreams are "host:port" addresses, unique; at least one.
	Upstreams []string
	// Strategy is StrategyRoundRobin, StrategyLeastConn, StrategyIPHash or
	// StrategyRandomTwo. Default DefaultProxyStrategy.
	Strategy string
	// HealthPath is the path that active health checks request, starting
	// with "/". Default "": no active checks.
	HealthPath string
	// HealthInterval is the pause between active checks; only with
	// HealthPath. Default DefaultHealthInterval.
	HealthInterval time.Duration
	// FailTimeout is the window for MaxFails, and how long a failed
	// upstream stays out. Default DefaultFailTimeout.
	FailTimeout time.Duration
	// MaxFails is the number of errors within FailTimeout that mark an
	// upstream down, >= 0; 0 turns passive marking off. Default
	// DefaultMaxFails.
	MaxFails int
	// Timeout bounds one upstream request. Default DefaultProxyTimeout.
	Timeout time.Duration
	// Retries is how many other upstreams an idempotent request that
	// failed to connect is tried on, 0 to 100. Default DefaultRetries.
	Retries int
	// TunnelIdleTimeout ("tunnel_idle_timeout") closes a WebSocket tunnel
	// that has carried nothing either way for this long. Default
	// DefaultTunnelIdleTimeout.
	TunnelIdleTimeout time.Duration
}

// Line returns the line where field (a path like "host[1].root") is
// defined, or the line of its closest enclosing table, or 0. The
// supervisor uses it to report problems found later, such as an address
// that will not bind, at their place in the file.
func (c *Config) Line(field string) int { return c.pos.line(field) }

// FieldError returns an *Error for field, at its line in c's file.
// sentinel (or an error wrapping one) becomes Err.
func (c *Config) FieldError(field string, sentinel error, problem string) *Error {
	return newError(c.name, c.pos, c.origin, c.statePath, field, sentinel, problem)
}
