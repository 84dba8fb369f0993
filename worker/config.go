package worker

import (
	"crypto/tls"
	"io"
	"io/fs"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults applied to a zero ServerConfig field.
const (
	// DefaultReadTimeout bounds reading one request, headers and body; a
	// slowloris client is cut off after it.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing one response.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds the wait for the next request on a keep-alive connection.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes is the request header limit; larger headers get 431.
	DefaultMaxHeaderBytes = 8 << 10
	// MaxHeaderBufferBytes caps the per-connection header buffer: a larger
	// MaxHeaderBytes is treated as this many bytes, so that a generous limit
	// cannot cost megabytes per idle connection.
	MaxHeaderBufferBytes = 64 << 10
	// DefaultMaxConnections is the open-connection limit; connections beyond
	// it get 503 and are closed.
	DefaultMaxConnections = 256 * 1024
	// DefaultMaxRequestSize is the request body limit; larger bodies get 413.
	DefaultMaxRequestSize = 16 << 20
	// DefaultShutdownTimeout bounds Server.Shutdown when its context has no deadline.
	DefaultShutdownTimeout = 30 * time.Second
)

// ServerConfig configures one Server. Zero fields take the defaults above.
type ServerConfig struct {
	// Addr is the address StartAll listens on; empty means the server is
	// started by calling Listen itself (or registered with AddServer).
	Addr string

	// ReadTimeout bounds reading a whole request. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next keep-alive request. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes limits the request line and headers; more gets 431.
	// Default DefaultMaxHeaderBytes, at most MaxHeaderBufferBytes.
	MaxHeaderBytes int

	// EnableHTTP1 serves HTTP/1.1 (on fasthttp). HTTP/1.1 is always
	// served: on plain TCP, and on TLS to every client that does not
	// negotiate h2 (false cannot be told from unset, so it does not turn
	// HTTP/1.1 off).
	EnableHTTP1 bool
	// EnableHTTP2 offers h2 first by ALPN on TLS listeners, and on plain
	// TCP listeners answers a client that opens with HTTP/2's preface
	// (h2c, prior knowledge) with HTTP/2, beside HTTP/1.1; h2 connections
	// are served by Rockstar's own HTTP/2 server through the same
	// handlers. Default false.
	EnableHTTP2 bool
	// EnableQUIC serves HTTP/3 (quic-go) on the UDP port of a TLS
	// listener, and advertises it with Alt-Svc on HTTP/1.1 and HTTP/2
	// responses. ListenQUIC serves HTTP/3 alone.
	EnableQUIC bool

	// TLSConfig, when set, is used by ListenTLS (cloned); its certificates
	// and GetCertificate are honoured. Default: TLS 1.2 or newer with the
	// certificate pair given to ListenTLS.
	TLSConfig *tls.Config

	// MaxConnections limits open connections, hijacked ones (a proxy's
	// WebSocket tunnels) included until they close; a connection past it
	// is answered 503 and closed. Default DefaultMaxConnections.
	MaxConnections int
	// MaxRequestSize limits a request body in bytes. Default DefaultMaxRequestSize.
	MaxRequestSize int64

	// ShutdownTimeout bounds a graceful Shutdown whose context has no
	// deadline. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// HostConfigs are the hosts this server owns, by name. On a port shared
	// by several servers of one manager, requests for these hosts go to
	// this server. Default: none.
	HostConfigs map[string]*HostConfig

	// AccessLog, when set, receives one line per request, in
	// AccessLogFormat, and every request gets an id: its X-Request-Id when
	// ValidRequestID, else a new one, set on the request (so a proxy
	// passes it on) and sent back on the response. Default nil: no access
	// log, and no ids.
	AccessLog io.Writer

	// AccessLogFormat is AccessLogJSON or AccessLogCombined. JSON lines
	// hold time, remote_addr, remote_user ("-" without Basic auth),
	// request_id, method, path, query, protocol, status,
	// body_bytes_sent, http_referer, http_user_agent, host, vhost (the
	// host it matched, "_" for none), tenant, request_time (seconds, a
	// number with millisecond precision) and, for proxied requests only,
	// upstream_response_time (seconds); every field has one JSON type in
	// every line. Combined lines are nginx's combined format, then the
	// same extra fields as key=value pairs. Default AccessLogJSON.
	AccessLogFormat string

	// DisableEventLoop serves every connection of a plain-TCP listener on
	// its own goroutine from the start. Default false: on Linux, one event
	// loop accepts them, serves the requests of inline hosts itself, and
	// hands every other connection on to a goroutine (see
	// HostConfig.Inline).
	DisableEventLoop bool

	// TrustedProxies are the load balancers and proxies in front of the
	// server (10.0.0.0/8, 127.0.0.1/32, ::1/128). A request whose
	// connection comes from one of them takes its client address from
	// RealIPHeader: the rightmost address there that is not itself
	// trusted, as nginx's real_ip_recursive (see realip.go). That address
	// is what ctx.RemoteAddr and ctx.RemoteIP, per-client rate limits, the
	// access log and the reverse proxy see. Headers from any other peer are
	// ignored. Default nil: none; every request's client is its connection's
	// address and no header is looked at.
	TrustedProxies []netip.Prefix
	// RealIPHeader is the header TrustedProxies are read from:
	// RealIPXForwardedFor or RealIPForwarded (RFC 7239's for=). Only one
	// is read, so that a client cannot spoof the other through a proxy
	// that sets one. Default "": RealIPXForwardedFor.
	RealIPHeader string
	// ProxyProtocol reads a PROXY protocol header (v1 or v2) at the start
	// of every TCP connection (plain or TLS, before the handshake), and
	// takes its source address as the connection's address. A connection
	// without a valid header is closed; with TrustedProxies, so is one
	// whose socket peer is not among them (see proxyproto.go). The
	// listener then has no event loop. HTTP/3 (UDP) is not affected.
	// Default false.
	ProxyProtocol bool
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxHeaderBytes > MaxHeaderBufferBytes {
		c.MaxHeaderBytes = MaxHeaderBufferBytes
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	return c
}

// VirtualFS is the file tree a host serves static files from. Any io/fs.FS
// can be assigned: os.DirFS, (*os.Root).FS, embed.FS, fstest.MapFS.
type VirtualFS = fs.FS

// MiddlewareFunc wraps a handler. In HostConfig.Middleware, element 0 is
// the outermost: it runs first.
type MiddlewareFunc func(next fasthttp.RequestHandler) fasthttp.RequestHandler

// HostConfig configures one virtual host.
type HostConfig struct {
	// Hostname is the name the host answers to ("app.example.com" or
	// "*.example.com"); when registered, the name given to RegisterHost wins.
	Hostname string
	// TenantID is the tenant the host belongs to; "" for none. A tenant
	// registered later must agree.
	TenantID string
	// VirtualFS serves the host's static files after its routes. Default nil: none.
	VirtualFS VirtualFS
	// ServeDotfiles serves the files and directories of VirtualFS whose
	// path has an element beginning with "." (.env, .git/config,
	// sub/.htpasswd). Default false: they are refused with 404, as if
	// absent, but for .well-known (RFC 8615: ACME challenges,
	// security.txt), which is always served.
	ServeDotfiles bool
	// NoPrecompressed stops serving a file's precompressed sibling
	// (file.br, file.zst, file.gz) to clients that accept its encoding
	// (static_encoding.go). Default false: siblings are served.
	NoPrecompressed bool
	// NoCompression stops compressing files of compressible types (text,
	// JSON, JavaScript, XML, SVG, WebAssembly) of 1 KiB to 8 MiB for
	// clients that accept br, zstd or gzip, once per change of a file
	// (static_compress.go). Default false: they are compressed.
	NoCompression bool
	// CacheControl sets Cache-Control on the answers of VirtualFS by
	// path: a pattern is a path ("/favicon.ico"), a path ending in "*"
	// (a prefix: "/assets/*"), or "*" (every file); an exact path wins,
	// then the longest prefix. An answer that has a Cache-Control keeps
	// it. Default nil: none.
	CacheControl map[string]string
	// Fallback is the file served, with 200, for a GET or HEAD whose path
	// names nothing in VirtualFS (a single-page app's "/index.html", as
	// nginx's try_files $uri /index.html). Default "": 404.
	Fallback string
	// Middleware wraps the host's routes and files; [0] runs first.
	Middleware []MiddlewareFunc
	// RateLimits limits the host's requests. Default nil: unlimited.
	RateLimits *RateLimitConfig
	// SecurityConfig adds per-host response headers. Default nil.
	SecurityConfig *ServerSecurityConfig
	// StreamRequestBody: the host's handlers read chunked request bodies
	// as they arrive (ctx.RequestBodyStream), as a proxy does, instead of
	// the server reading them whole first. Default false.
	StreamRequestBody bool
	// DiscardRequestBody promises that the host's middleware and handlers
	// never read a request body (a fixed answer, a redirect): a chunked
	// body is then read as it arrives and dropped, still refused with 413
	// past MaxRequestSize, instead of being held whole in memory for the
	// handler, which sees an empty body. A host with neither routes of its
	// own nor middleware (only VirtualFS, or nothing) drops bodies whatever
	// this says. Default false. StreamRequestBody wins.
	DiscardRequestBody bool
	// Inline promises that the host's middleware and handlers never block:
	// no network or disk I/O but a write to the access log, no waiting, no
	// Hijack, TimeoutError or reading the connection. On a plain-TCP
	// listener on Linux the worker's event loop then answers the host's
	// requests that have no body itself, without a goroutine per
	// connection, as nginx's event loop answers its return directive (see
	// the package doc's "Event loop"). A handler that blocks there holds
	// up every connection of the listener. Default false: the host's
	// requests are served on their connection's goroutine.
	Inline bool
	// InlineAnswer, for a host that is not Inline, answers a request
	// without blocking when it can (a response cache's fresh hit:
	// cache.Cache.Answer) and reports whether it did; when it does not, it
	// leaves ctx.Response as it was. On the event loop (see Inline) such a
	// host's requests are offered to it first: one it answers is served
	// there (the host's limits refuse it with 429 as usual, and headers,
	// metrics and the access log are as for any answer), every other is
	// handed on to a goroutine and goes through the whole middleware
	// chain. Middleware before the one that answers does not run for what
	// it answers. Default nil.
	InlineAnswer func(ctx *fasthttp.RequestCtx) bool
}

// RateLimitConfig is a token bucket: RequestsPerSecond refill, BurstSize capacity.
type RateLimitConfig struct {
	// Enabled switches the limit on.
	Enabled bool
	// RequestsPerSecond is the sustained rate.
	RequestsPerSecond float64
	// BurstSize is how many requests may pass at once; 0 means 1.
	BurstSize int
	// Key is "" for one bucket for the whole host or tenant, or
	// KeyClientIP for one bucket per client IP address. Default "".
	Key string
	// Size is how many clients a KeyClientIP limit tracks; past that it
	// forgets the least recently seen (see KeyedLimiter). Default
	// DefaultClientTableSize.
	Size int
	// IPv6Prefix is how many leading bits of an IPv6 client's address are
	// its key with KeyClientIP: one subscriber is given a whole /64 and
	// can rotate through it, so by default (0: DefaultIPv6Prefix) clients
	// in one /64 share a bucket. A multiple of 8 from 48 to 128 (every
	// address its own bucket). IPv4 clients are keyed by their address.
	IPv6Prefix int
	// Placement tells a LimiterFactory where the limit's state is kept
	// when that is not up to the factory alone, such as "cluster" for a
	// limit the supervisor shares across machines; the worker package's
	// own limiters ignore it, except that a limit whose Placement changes
	// gets a new limiter. Default "": the factory's usual place.
	Placement string
}

func (c *RateLimitConfig) active() bool {
	return c != nil && c.Enabled
}

// ServerSecurityConfig holds per-host security settings.
type ServerSecurityConfig struct {
	// Headers are set on every response of the host (for example
	// Strict-Transport-Security or X-Frame-Options), unless the handler
	// already set them. Default none.
	Headers map[string]string
	// CertFile and KeyFile are the host's own certificate pair (PEM). On
	// a TLS listener, a client whose SNI names the host gets it, and a
	// request for the host on a connection made for another certificate
	// gets 421 Misdirected Request; see tls_certs.go. The files are read again
	// when they change and the configuration is applied. Default "": the
	// listener's certificate.
	CertFile, KeyFile string
	// Certificate is the host's own certificate already loaded; it wins
	// over CertFile. Default nil.
	Certificate *tls.Certificate
}

// TenantConfig registers a tenant with a budget shared by all its hosts.
type TenantConfig struct {
	// ID is the tenant's unique, non-empty name.
	ID string
	// Hosts are the tenant's hosts; each must already be registered.
	Hosts []string
	// RateLimits is one budget for all of the tenant's hosts together.
	// Default nil: unlimited.
	RateLimits *RateLimitConfig
}
