package worker

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Load-balancing strategies of a proxy.
const (
	// ProxyRoundRobin sends each request to the next upstream in turn.
	ProxyRoundRobin = "round_robin"
	// ProxyLeastConn sends each request to the upstream with the fewest
	// requests in flight from this process; ties go round robin.
	ProxyLeastConn = "least_conn"
	// ProxyIPHash sends all requests of one client IP to one upstream
	// (rendezvous hashing: when an upstream leaves or returns, only its own
	// clients move).
	ProxyIPHash = "ip_hash"
	// ProxyRandomTwo picks two upstreams at random and sends the request to
	// the one with fewer requests in flight (the power of two choices).
	ProxyRandomTwo = "random_two"
)

// Defaults applied to a zero ProxyConfig field.
const (
	// DefaultProxyName is the "host" label of a proxy without a Name.
	DefaultProxyName = "proxy"
	// DefaultProxyTimeout bounds each wait on an upstream: for the
	// connection, for each write, and for each read (the response headers,
	// then each piece of the body), like nginx's proxy_*_timeout; a body
	// that stalls midway is cut off after between half of it and all of it.
	DefaultProxyTimeout = 60 * time.Second
	// DefaultProxyConnectTimeout bounds connecting to an upstream; it is
	// never longer than Timeout.
	DefaultProxyConnectTimeout = 5 * time.Second
	// DefaultProxyFailTimeout is the window in which MaxFails errors mark
	// an upstream down, and how long it then stays out of rotation.
	DefaultProxyFailTimeout = 10 * time.Second
	// DefaultProxyMaxFails is the number of errors within FailTimeout that
	// mark an upstream down.
	DefaultProxyMaxFails = 1
	// DefaultProxyRetries is how many other upstreams a failed request is
	// tried on (see ProxyConfig.Retries for which requests are).
	DefaultProxyRetries = 1
	// DefaultProxyHealthInterval is the pause between active health checks.
	DefaultProxyHealthInterval = 10 * time.Second
	// DefaultProxyHealthTimeout bounds one health check.
	DefaultProxyHealthTimeout = 5 * time.Second
	// DefaultProxyMaxConns is the most connections this process keeps to
	// one upstream; requests beyond wait for one, up to Timeout.
	DefaultProxyMaxConns = 1024
	// DefaultProxyTunnelIdleTimeout closes a WebSocket tunnel idle both
	// ways for this long.
	DefaultProxyTunnelIdleTimeout = 60 * time.Second
)

// ProxyConfig configures a reverse proxy to a pool of upstream servers.
// Zero fields take the defaults above.
type ProxyConfig struct {
	// Name labels the proxy's metrics ("host") and is the Host header of
	// its health checks; a host's proxy is named after the host. Default
	// DefaultProxyName.
	Name string
	// Upstreams are the "host:port" addresses of the servers, at least
	// one, each once.
	Upstreams []string
	// Strategy is ProxyRoundRobin (the default), ProxyLeastConn,
	// ProxyIPHash or ProxyRandomTwo.
	Strategy string

	// HealthPath, when set, is requested on every upstream every
	// HealthInterval; an answer other than 2xx or 3xx within HealthTimeout
	// takes the upstream out of rotation until a check passes. Default "":
	// no active checks.
	HealthPath string
	// HealthInterval is the pause between one round of checks (all the
	// upstreams at once) and the next. Default DefaultProxyHealthInterval.
	HealthInterval time.Duration
	// HealthTimeout bounds one check. Default DefaultProxyHealthTimeout.
	HealthTimeout time.Duration
	// ExternalHealth leaves the active checks to someone else, who reports
	// their results with ProxyHandler.SetUpstreamUp: a supervisor checks
	// once for all its workers. Upstreams count as up until reported down.
	ExternalHealth bool

	// MaxFails errors (a failed connection, a timeout, a broken response)
	// within FailTimeout take an upstream out of rotation for FailTimeout.
	// Only the upstream's own errors count: not a request that failed
	// because of its client (a broken or oversized body, a body cut
	// short), nor one that found every connection to the upstream busy.
	// Default DefaultProxyMaxFails; negative: never. A pool of one upstream
	// is never taken out this way (only by health checks), like nginx.
	MaxFails int
	// FailTimeout is MaxFails' window and how long the upstream then stays
	// out. Default DefaultProxyFailTimeout.
	FailTimeout time.Duration

	// Timeout bounds every wait on an upstream (see DefaultProxyTimeout);
	// one that passes answers 504. Default DefaultProxyTimeout.
	Timeout time.Duration
	// ConnectTimeout bounds connecting. Default DefaultProxyConnectTimeout,
	// at most Timeout.
	ConnectTimeout time.Duration
	// Retries is how many other upstreams a request is tried on when the
	// one it went to failed before answering: any request whose
	// connection could not be made (nothing was sent), and an idempotent
	// one (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) that failed otherwise
	// before its body was sent and before a response began; never after a
	// timeout while waiting for the answer. A request goes to 8 upstreams
	// at most, so values over 7 count as 7. Default DefaultProxyRetries;
	// negative: none.
	Retries int
	// MaxConnsPerUpstream bounds this process's connections to one
	// upstream, its WebSocket tunnels included. Default
	// DefaultProxyMaxConns.
	MaxConnsPerUpstream int
	// TunnelIdleTimeout closes a WebSocket tunnel that has carried
	// nothing either way for this long, like nginx's proxy_read_timeout
	// on an upgraded connection. Default DefaultProxyTunnelIdleTimeout.
	TunnelIdleTimeout time.Duration

	// Metrics receives the proxy's counters. Default DefaultUpstreamMetrics.
	Metrics *UpstreamMetrics
	// Log receives upstream state changes (down, up). Default: none.
	Log *zerolog.Logger
}

// Errors of NewProxy and ProxyHandler.Update, wrapped with the offending
// value; check them with errors.Is.
var (
	// ErrProxyNoUpstreams: a proxy without upstreams.
	ErrProxyNoUpstreams = errors.New("worker: proxy has no upstreams")
	// ErrProxyUpstream: an upstream address that is not "host:port", or
	// is listed twice.
	ErrProxyUpstream = errors.New("worker: invalid proxy upstream")
	// ErrProxyStrategy: a strategy that is none of the Proxy* constants.
	ErrProxyStrategy = errors.New("worker: unknown proxy strategy")
	// ErrProxyClosed: Update on a closed proxy.
	ErrProxyClosed = errors.New("worker: proxy closed")
)

// resolve validates c and applies the defaults.
func (c ProxyConfig) resolve() (ProxyConfig, error) {
	if len(c.Upstreams) == 0 {
		return c, ErrProxyNoUpstreams
	}
	c.Upstreams = slices.Clone(c.Upstreams)
	for i, u := range c.Upstreams {
		host, port, err := net.SplitHostPort(u)
		if err != nil {
			return c, fmt.Errorf("%w %q: %w", ErrProxyUpstream, u, err)
		}
		if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("%w %q: want host:port", ErrProxyUpstream, u)
		}
		if slices.Contains(c.Upstreams[:i], u) {
			return c, fmt.Errorf("%w %q: listed twice", ErrProxyUpstream, u)
		}
	}
	switch c.Strategy {
	case "":
		c.Strategy = ProxyRoundRobin
	case ProxyRoundRobin, ProxyLeastConn, ProxyIPHash, ProxyRandomTwo:
	default:
		return c, fmt.Errorf("%w %q", ErrProxyStrategy, c.Strategy)
	}
	if c.Name == "" {
		c.Name = DefaultProxyName
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = DefaultProxyHealthInterval
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = DefaultProxyHealthTimeout
	}
	switch {
	case c.MaxFails == 0:
		c.MaxFails = DefaultProxyMaxFails
	case c.MaxFails < 0:
		c.MaxFails = 0
	}
	if c.FailTimeout <= 0 {
		c.FailTimeout = DefaultProxyFailTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultProxyTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultProxyConnectTimeout
	}
	c.ConnectTimeout = min(c.ConnectTimeout, c.Timeout)
	switch {
	case c.Retries == 0:
		c.Retries = DefaultProxyRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.MaxConnsPerUpstream <= 0 {
		c.MaxConnsPerUpstream = DefaultProxyMaxConns
	}
	if c.TunnelIdleTimeout <= 0 {
		c.TunnelIdleTimeout = DefaultProxyTunnelIdleTimeout
	}
	if c.Metrics == nil {
		c.Metrics = DefaultUpstreamMetrics
	}
	return c, nil
}

// ProxyHandler forwards requests to a pool of upstreams. Its upstreams,
// strategy and limits can be changed while it serves (Update), and its
// health can be fed from outside (SetUpstreamUp). Close it when done.
type ProxyHandler struct {
	pool    atomic.Pointer[proxyPool]
	handler fasthttp.RequestHandler
	log     zerolog.Logger

	mu      sync.Mutex // guards what follows, and serializes Update
	checker *HealthChecker
	metrics *UpstreamMetrics
	closed  bool
	// tunnels are the WebSocket tunnels open now; tunnelWG waits for
	// them (proxy_ws.go).
	tunnels  map[*wsTunnel]struct{}
	tunnelWG sync.WaitGroup
}

// proxyPool is one immutable configuration of a proxy: a request loads it
// once and uses it to the end, so an Update never changes a request's
// upstreams under it.
type proxyPool struct {
	cfg      ProxyConfig
	strategy int
	ups      []*upstream
	byAddr   map[string]*upstream
	rr       atomic.Uint64
	// single: a pool of one upstream, which passive marking leaves alone.
	single bool
}

const (
	stratRoundRobin = iota
	stratLeastConn
	stratIPHash
	stratRandomTwo
)

func strategyIndex(s string) int {
	switch s {
	case ProxyLeastConn:
		return stratLeastConn
	case ProxyIPHash:
		return stratIPHash
	case ProxyRandomTwo:
		return stratRandomTwo
	}
	return stratRoundRobin
}

// Proxy returns a handler that forwards every request to cfg's upstreams,
// for a route or a host's middleware. It panics on an invalid cfg, as a
// route with a nil handler does; use NewProxy to get the error, to change
// the upstreams later, or to close the proxy.
func Proxy(cfg ProxyConfig) fasthttp.RequestHandler {
	p, err := NewProxy(cfg)
	if err != nil {
		panic(err)
	}
	return p.Handler()
}

// NewProxy validates cfg and returns a proxy. When cfg.HealthPath is set
// and cfg.ExternalHealth is not, it starts checking the upstreams at once,
// in a goroutine that Close stops.
func NewProxy(cfg ProxyConfig) (*ProxyHandler, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	p := &ProxyHandler{metrics: rc.Metrics, log: zerolog.Nop()}
	if rc.Log != nil {
		p.log = *rc.Log
	}
	p.log = p.log.With().Str("proxy", rc.Name).Logger()
	p.handler = p.serve
	p.pool.Store(p.newPool(rc, nil))
	p.metrics.track(p)
	p.startChecks(rc)
	return p, nil
}

// Handler returns the proxy's request handler.
func (p *ProxyHandler) Handler() fasthttp.RequestHandler { return p.handler }

// Name returns the proxy's name (its metrics' host label).
func (p *ProxyHandler) Name() string { return p.pool.Load().cfg.Name }

// Update replaces the proxy's configuration while it serves. Upstreams
// that stay keep their connections, counters and health; requests in
// flight finish on the configuration they started with; the connections
// of upstreams that left are closed once their last request ends. On an
// error nothing changes.
func (p *ProxyHandler) Update(cfg ProxyConfig) error {
	rc, err := cfg.resolve()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrProxyClosed
	}
	old := p.pool.Load()
	next := p.newPool(rc, old)
	p.pool.Store(next)
	if rc.Metrics != p.metrics {
		p.metrics.untrack(p)
		p.metrics = rc.Metrics
		p.metrics.track(p)
	}
	for _, u := range old.ups {
		if next.byAddr[u.addr] != u {
			u.retire()
		}
	}
	switch {
	case p.checker != nil && (rc.HealthPath == "" || rc.ExternalHealth):
		// The checker's reports do not take p.mu: closing it here is safe.
		p.checker.Close()
		p.checker = nil
		if rc.HealthPath == "" {
			for _, u := range next.ups {
				u.activeDown.Store(false)
			}
		}
	case p.checker != nil:
		p.checker.Update(rc)
	default:
		p.startChecksLocked(rc)
	}
	return nil
}

// SetUpstreamUp takes an upstream out of rotation (false) or puts it back
// (true), as an active health check would; it is how a supervisor that
// checks for all its workers reports. Putting back an upstream that was
// out also ends a passive marking; saying again that it is up does not.
// An address the proxy does not have is ignored.
func (p *ProxyHandler) SetUpstreamUp(addr string, up bool) {
	p.setActive(addr, up)
}

// UpstreamUp reports whether the upstream is in rotation now, and whether
// the proxy has it at all.
func (p *ProxyHandler) UpstreamUp(addr string) (up, ok bool) {
	u := p.pool.Load().byAddr[addr]
	if u == nil {
		return false, false
	}
	return u.available(), true
}

// Upstreams returns the proxy's upstream addresses, in order.
func (p *ProxyHandler) Upstreams() []string {
	return slices.Clone(p.pool.Load().cfg.Upstreams)
}

func (p *ProxyHandler) setActive(addr string, up bool) {
	u := p.pool.Load().byAddr[addr]
	if u == nil {
		return
	}
	was := u.available()
	if wasDown := u.activeDown.Swap(!up); up && wasDown {
		u.clearFails() // a check that passes again ends a passive marking too
	}
	if now := u.available(); now != was {
		p.logState(u, now, "health check")
	}
}

func (p *ProxyHandler) logState(u *upstream, up bool, why string) {
	if up {
		p.log.Info().Str("upstream", u.addr).Str("by", why).Msg("upstream back in rotation")
	} else {
		p.log.Warn().Str("upstream", u.addr).Str("by", why).Msg("upstream out of rotation")
	}
}

// Close stops the health checks, closes the WebSocket tunnels and retires
// the upstreams: requests in flight finish, and each upstream's
// connections are closed when its last request ends. Requests that still
// reach the handler are served (an upgrade is refused). Close returns
// once the checks have stopped and the tunnels have ended; it may be
// called more than once.
func (p *ProxyHandler) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	c := p.checker
	p.checker = nil
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
	p.metrics.untrack(p)
	for _, u := range p.pool.Load().ups {
		u.retire()
	}
	p.closeTunnels()
}

func (p *ProxyHandler) startChecks(rc ProxyConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startChecksLocked(rc)
}

func (p *ProxyHandler) startChecksLocked(rc ProxyConfig) {
	if rc.HealthPath == "" || rc.ExternalHealth {
		return
	}
	p.checker = NewHealthChecker(rc, p.setActive)
}

// newPool builds a pool for rc, reusing old's upstreams whose address and
// connection settings are unchanged.
func (p *ProxyHandler) newPool(rc ProxyConfig, old *proxyPool) *proxyPool {
	np := &proxyPool{
		cfg:      rc,
		strategy: strategyIndex(rc.Strategy),
		byAddr:   make(map[string]*upstream, len(rc.Upstreams)),
		single:   len(rc.Upstreams) == 1,
	}
	set := settingsOf(rc)
	for _, addr := range rc.Upstreams {
		var u *upstream
		if old != nil {
			if ou := old.byAddr[addr]; ou != nil && ou.settings == set {
				u = ou
			}
		}
		if u == nil {
			u = newUpstream(addr, set, rc.Metrics.cell(UpstreamKey{Host: rc.Name, Upstream: addr}))
		}
		np.ups = append(np.ups, u)
		np.byAddr[addr] = u
	}
	if old != nil {
		np.rr.Store(old.rr.Load())
	}
	return np
}
