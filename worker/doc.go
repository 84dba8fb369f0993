// Package worker runs many virtual hosts and tenants in one process on
// fasthttp: a ServerManager owns Servers, a host and tenant registry, rate
// limits and metrics; a Router picks a host's sub-router by the Host header,
// then a route by method and path. It is what serves requests: in each
// worker process of a supervisor (package supervisor starts them and
// configures their managers), or in any program of its own, as below. It
// never imports the supervisor; the reverse proxy is package worker/proxy,
// a handler on top of it.
//
// A production main registers its hosts, routes them, listens, and shuts
// down gracefully on a signal:
//
//	sm := worker.NewServerManager()
//	if err := sm.RegisterHost("app.example.com", worker.HostConfig{
//		TenantID:   "acme",
//		VirtualFS:  os.DirFS("sites/app"), // static files after the routes
//		RateLimits: &worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 100, BurstSize: 20},
//	}); err != nil {
//		log.Fatal(err)
//	}
//	if err := sm.RegisterTenant("acme", []string{"app.example.com"}); err != nil {
//		log.Fatal(err)
//	}
//
//	r := worker.NewRouter()
//	r.GET("/healthz", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }) // any other host
//	app := r.Host("app.example.com")
//	app.GET("/users/:id", func(ctx *fasthttp.RequestCtx) {
//		fmt.Fprintf(ctx, "user %s", ctx.UserValue("id"))
//	})
//
//	srv := sm.NewServer(worker.ServerConfig{Addr: ":8080", ReadTimeout: 10 * time.Second})
//	srv.SetRouter(r)
//	if err := sm.StartAll(); err != nil { // returns once every server accepts
//		log.Fatal(err)
//	}
//	stop := make(chan os.Signal, 1)
//	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
//	<-stop
//	if err := sm.GracefulShutdown(30 * time.Second); err != nil {
//		log.Print(err)
//	}
//
// # Hosts
//
// Host names match case-insensitively, without a port or a trailing dot:
// exact names first, then one-label wildcards ("*.example.com"), then the
// root router's own routes. Within a host come its routes, then its
// VirtualFS, then 404 (or 405 with Allow when another method has the path).
// A host never falls through to another host's routes or files.
//
// A VirtualFS answers GET and HEAD; another method on one of its files
// gets 405 with "Allow: GET, HEAD" (and the methods of the host's routes
// for the path). A directory redirects to its name with a slash and serves
// its index.html; there are no listings. Only regular files are served,
// and each is known to be one (fs.Stat) before it is opened: a FIFO,
// socket or device gets 404 without an open that could block. A file named
// as a directory ("/a.txt/") gets 404, as in nginx. A path with an element
// beginning with "." (/.env, /.git/config, /sub/.htpasswd) gets 404 as if
// absent, unless HostConfig.ServeDotfiles; /.well-known/ (RFC 8615: ACME
// challenges, security.txt) is always served.
//
// Registering and unregistering hosts and tenants, and adding routes, takes
// effect on running servers at once: each change publishes a new immutable
// table, and a request only loads a pointer. A host may be served without
// RegisterHost, by naming it in a server's HostConfigs or router; whichever
// way it came, UnregisterHost takes all of it away (routes, files,
// middleware, certificate), so that its requests get what a host never
// heard of gets, until RegisterHost adds it again.
//
// # Limits, middleware and metrics
//
// HostConfig.Middleware wraps one host's handlers, element 0 outermost. A
// host's RateLimits and its tenant's (RegisterTenantConfig) are token
// buckets; a refused request gets 429 with Retry-After. Limiter is an
// interface, so that SetLimiterFactory can swap in buckets shared between
// processes: NewLimiterOn lays the same limiter that NewLocalLimiter makes
// over memory its caller supplies (LimiterMemory), such as a region that
// every worker maps. Metrics returns counters per server, host and tenant; snapshots
// add up with MetricsSnapshot.Add. Each series counts its answers by status
// code too (Counters.AddCodes). ServerConfig.AccessLog writes one line per
// request, JSON or nginx's combined format (AccessLogFormat), and gives
// each request an X-Request-Id (ValidRequestID); a proxy reports the time
// it waited on upstreams with AddUpstreamTime.
//
// # Request bodies and the reverse proxy
//
// The server streams request bodies: a handler reads one whole with
// ctx.PostBody, as before, or as it comes with ctx.RequestBodyStream;
// MaxRequestSize still answers 413 before the handler runs. A host that
// never reads bodies (HostConfig.DiscardRequestBody, or one of files only)
// has a chunked body read and dropped as it comes, never held in memory.
// The reverse proxy (package worker/proxy) is such a handler, for a route
// or a whole host (as its middleware, with HostConfig.StreamRequestBody);
// its WebSocket tunnels are hijacked connections, which count as
// connections of the server (MaxConnections, the metrics' Active) and
// close on Drain and shutdown. Package worker does not import it.
//
// # Servers
//
// Servers of one manager that listen on the same address share one
// listener, and each request goes to the server that owns its host.
// Standalone listeners are opened with SO_REUSEPORT, so several processes
// can share a port without the supervisor (and an unrelated second one
// binds it too); netutil.ListenExclusive with Serve gives the plain,
// exclusive bind, the only one on Windows, which has no SO_REUSEPORT
// (Listen fails there with an error wrapping netutil.ErrUnsupported). The
// package builds for Linux, Windows, macOS and FreeBSD; the event loop is
// Linux's, and elsewhere every connection gets a goroutine. Handlers are
// plain fasthttp.RequestHandlers. Serving a static route, limits and
// metrics included, allocates nothing; a route with parameters allocates once per
// parameter value (see bench_test.go and alloc_test.go).
//
// # Request heads
//
// Besides what fasthttp refuses itself, a request head that another
// server could read otherwise gets 400 and its connection closes, a
// request pipelined behind it unanswered, on the event loop, on a
// goroutine and over TLS alike (h1_smuggling.go): a Transfer-Encoding with a
// Content-Length or other than chunked, a folded header line (obs-fold),
// userinfo in the Host or an absolute-form target, and an absolute-form
// target that names another host than the Host header. A head that ends
// in a bare LF with nothing after it, and an HTTP/0.9 request line, are
// answered (400) at once rather than at ReadTimeout (h1_headwatch.go).
//
// # Event loop
//
// On Linux a plain-TCP listener's connections start on an epoll event loop
// (h1_loop.go), as nginx's do. It answers the requests without a body of
// hosts marked HostConfig.Inline (handlers that never block, as rockstar's
// respond hosts are) itself, and hands every other connection, with the
// bytes it has read, to fasthttp, which serves it on a goroutine from then
// on. ServerConfig.DisableEventLoop gives every connection a goroutine from
// the start.
//
// # Client addresses behind a load balancer
//
// ServerConfig.TrustedProxies names the proxies in front of a server. A
// request whose connection comes from one of them takes its client from
// X-Forwarded-For (or Forwarded's for=, ServerConfig.RealIPHeader): the
// rightmost address there that is not itself trusted, as nginx's
// real_ip_recursive. Other peers' headers are ignored, and a malformed one
// keeps the connection's address. ServerConfig.ProxyProtocol reads a
// PROXY protocol header (v1 or v2) first on every TCP connection and
// takes its source as the connection's address; a connection without one
// is closed. ctx.RemoteAddr and ctx.RemoteIP, per-client limits, the
// access log and the reverse proxy see the client so found, over
// HTTP/1.1, HTTP/2 and HTTP/3 (realip.go, proxyproto.go).
//
// # Files
//
// The manager and its servers:
//   - manager.go: ServerManager (NewServerManager): servers, hosts and
//     tenants, StartAll, StopAll, GracefulShutdown, HealthCheck, Metrics.
//   - server.go: Server: one configuration and router, and its listener.
//   - config.go: ServerConfig, HostConfig, RateLimitConfig, TenantConfig
//     and their defaults.
//   - errors.go: the registries' and the manager's errors.
//   - binding.go: one listening address and the fasthttp server on it,
//     shared by the servers on it; each request goes to its host's.
//   - drain.go: Drain, retiring every listening server without dropping a
//     request.
//
// Hosts, tenants and routing:
//   - registry.go, apply.go, rebuild.go: the host and tenant registry, its
//     validation (ReplaceHosts) and the immutable tables a change publishes.
//   - hoststate.go: what a request for one host needs, resolved ahead.
//   - hostmap.go, hostname.go: Host header lookup (exact, then wildcard)
//     and host name validation.
//   - router.go, tree.go, paramstr.go: Router, its per-method route trees,
//     and path parameters boxed in one allocation.
//   - static.go: a host's VirtualFS.
//   - static_conditional.go: ETag, Last-Modified, 304 and 412 (RFC 9110 13).
//   - static_range.go: Range, 206 and 416 (RFC 9110 14).
//   - static_multirange.go: several ranges as multipart/byteranges.
//   - static_encoding.go: precompressed siblings (.br, .zst, .gz) by
//     Accept-Encoding.
//   - static_compress.go: files compressed on the fly, once per change.
//   - static_policy.go: Cache-Control by path pattern, the fallback file.
//   - static_statcache.go: the files' stats, kept for a second.
//   - static_small.go: files of up to 256 KiB answered from memory while
//     they do not change.
//   - static_fdcache.go: bigger files kept open while they do not change,
//     sent with sendfile at each answer's own offset
//     (static_sendfile_linux.go).
//   - bodylimit.go: streamed request bodies, MaxRequestSize, and bodies
//     read and dropped for hosts that never read them.
//   - realip.go: the client behind trusted proxies (X-Forwarded-For,
//     Forwarded).
//   - proxyproto.go: the PROXY protocol on a listener.
//
// Limits and metrics:
//   - limiter.go: Limiter, LimiterFactory and the in-process GCRA bucket.
//   - keyed.go: per-client limits (KeyedLimiter, client keys).
//   - metrics.go: the counters of each server, host and tenant, and
//     LatencyCounter, the latency histogram (also the proxy's).
//   - counters.go: Counters, a series' counters in memory someone else
//     provides (SetCounterAllocator).
//   - accesslog.go: the access log's two formats, request ids, upstream
//     time.
//
// HTTP/1.1, plain and over TLS, served by fasthttp (h1_*):
//   - h1_conn.go: the connection every listener hands out, with the phase
//     timeouts (ReadTimeout, WriteTimeout, IdleTimeout) it applies itself.
//   - h1_deadline.go: lazy socket deadlines.
//   - h1_linger.go: lingering close after an early refusal.
//   - h1_yield.go: one yield before the next read on a goroutine.
//   - h1_headwatch.go: heads fasthttp would wait on for ever (bare LF,
//     HTTP/0.9) answered at once.
//   - h1_smuggling.go: heads two parsers could read two ways refused.
//   - h1_loop.go, h1_loop_linux.go, h1_loop_other.go: the epoll event loop
//     of plain-TCP listeners (Linux; h1_loop_other.go is its absence
//     elsewhere).
//   - h1_handoff.go: the loop's connections handed to fasthttp (Linux).
//
// TLS, HTTP/2 and HTTP/3 (tls_*):
//   - tls_serve.go: the TLS listener: the handshake, ALPN's split between
//     fasthttp (HTTP/1.1), Rockstar's HTTP/2 server and quic-go (HTTP/3),
//     Alt-Svc.
//   - tls_certs.go: certificates per host (SNI, 421 Misdirected Request).
//   - tls_h2.go: the HTTP/2 server and a connection's reader: SETTINGS,
//     PING, RST_STREAM, WINDOW_UPDATE, the flood limits.
//   - tls_h2_drain.go: how a connection ends: GOAWAY, and drains that
//     tell a connection to go once it is quiet (or near the deadline).
//   - tls_h2_window.go: receive windows and their auto-tuning.
//   - tls_h2_stream.go: a stream: its header block into a pooled
//     RequestCtx (pseudo-headers, the :authority rules), its body, the
//     handler, on the reader (inline hosts) or the pool.
//   - tls_h2_write.go: responses: a header block encoded without
//     allocating, DATA under flow control, batched flushes.
//   - tls_h2_pool.go: the bounded goroutines of handlers that may block.
//   - tls_h2_cleartext.go: HTTP/2 without TLS by prior knowledge (h2c), on
//     plain servers with EnableHTTP2.
//   - tls_adapter.go: HTTP/3 requests (quic-go's) served by the fasthttp
//     handlers.
//   - tls_h3conns.go: the open HTTP/3 connections, for a graceful stop.
package worker
