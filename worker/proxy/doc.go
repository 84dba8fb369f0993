// Package proxy is Rockstar's reverse proxy: a fasthttp handler that
// forwards requests to a pool of upstream servers, for a route or a whole
// host of a worker.Server (as the host's middleware, with
// worker.HostConfig.StreamRequestBody). It runs in the worker processes,
// each with its own pooled connections to the upstreams; a supervisor's
// master runs only its HealthChecker, once for all the workers, and pushes
// the results to them. Of the rest of package worker it uses only the
// latency histogram (worker.LatencyCounter, worker.Histogram).
//
// Handler(Config) is a handler that forwards to cfg's upstreams; New
// returns a Proxy that can also Update its upstreams in place, take health
// reports (SetUpstreamUp) and Close. Strategies are RoundRobin, LeastConn,
// IPHash and RandomTwo; upstreams leave the rotation on failed health
// checks (HealthChecker) or after MaxFails errors of their own (a failed
// connection, a timeout, a broken answer: a request that failed because
// of its client counts for nothing), and a request that failed before its
// answer is retried on another upstream when that is safe. The upstream
// gets the request in origin-form, without hop-by-hop headers, and with
// the forwarding headers (X-Forwarded-*, X-Real-IP, Forwarded) set by the
// proxy, never by the client (header.go). Bodies stream both ways, and
// WebSocket upgrades are tunneled: a tunnel counts as a connection of the
// server (worker.ServerConfig.MaxConnections, the metrics' Active) and of
// its upstream (MaxConnsPerUpstream), closes once idle both ways for
// TunnelIdleTimeout, and closes on the server's Drain and shutdown and on
// the proxy's Close. UpstreamMetrics counts every upstream's answers.
//
// Every default (DefaultTimeout, DefaultHealthInterval, DefaultMaxFails,
// DefaultRetries, ...) is declared here; supervisor/config refers to them.
//
// # Files
//
// The proxy and its configuration:
//   - proxy.go: Config, its defaults and errors, Handler, New, and Proxy
//     (Update, SetUpstreamUp, Close); a pool is one immutable
//     configuration that a request loads once.
//   - balance.go: the strategies, picking an upstream for each try.
//
// A request's way through:
//   - forward.go: serving a request: tries, retries, the answer streamed
//     back, and what a failure answers (502, 504, the client's 4xx).
//   - header.go: what the proxy does to the headers both ways (hop-by-hop
//     fields, Host, origin-form, the forwarding headers, Via).
//   - ws.go: WebSocket upgrades and the tunnels they become.
//   - cache.go: Cache, the hook a response cache plugs into (Config.Cache):
//     it may answer before the upstream is asked, and is offered each
//     upstream answer; none by default, at the cost of a nil check.
//
// The upstreams:
//   - upstream.go: one upstream's pooled connections, its load and its
//     passive marking (MaxFails within FailTimeout).
//   - health.go: HealthChecker, the active checks on HealthPath.
//   - metrics.go: UpstreamMetrics, every upstream's answers by status
//     code, its latency and whether it is in rotation.
package proxy
