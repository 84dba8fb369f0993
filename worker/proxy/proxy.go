package proxy

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
	// RoundRobin sends each request to the next upstream in turn.
	RoundRobin = "round_robin"
	// LeastConn sends each request to the upstream with the fewest
	// requests in flight from this process; ties go round robin.
	LeastConn = "least_conn"
	// IPHash sends all requests of one client IP to one upstream
	// (rendezvous hashing: when an upstream leaves or returns, only its own
	// clients move).
	IPHash = "ip_hash"
	// RandomTwo picks two upstreams at random and sends the request to
	// the one with fewer requests in flight (the power of two choices).
	RandomTwo = "random_two"
)

// Defaults applied to a zero Config field.
const (
	// DefaultName is the "host" label of a proxy without a Name.
	DefaultName = "proxy"
	// DefaultTimeout bounds each wait on an upstream: for the
	// connection, for each write, and for each read (the response headers,
	// then each piece of the body), like nginx's proxy_*_timeout; a body
	// that stalls midway is cut off after between half of it and all of it.
	DefaultTimeout = 60 * time.Second
	// DefaultConnectTimeout bounds connecting to an upstream; it is
	// never longer than Timeout.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultFailTimeout is the window in which MaxFails errors mark
	// an upstream down, and how long it then stays out of rotation.
	DefaultFailTimeout = 10 * time.Second
	// DefaultMaxFails is the number of errors within FailTimeout that
	// mark an upstream down.
	DefaultMaxFails = 1
	// DefaultRetries is how many other upstreams a failed request is
	// tried on (see Config.Retries for which requests are).
	DefaultRetries = 1
	// DefaultHealthInterval is the pause between active health checks.
	DefaultHealthInterval = 10 * time.Second
	// DefaultHealthTimeout bounds one health check.
	DefaultHealthTimeout = 5 * time.Second
	// DefaultMaxConns is the most connections this process keeps to
	// one upstream; requests beyond wait for one, up to Timeout.
	DefaultMaxConns = 1024
	// DefaultTunnelIdleTimeout closes a WebSocket tunnel idle both
	// ways for this long.
	DefaultTunnelIdleTimeout = 60 * time.Second
)

// Config configures a reverse proxy to a pool of upstream servers.
// Zero fields take the defaults above.
type Config struct {
	// Name labels the proxy's metrics ("host") and is the Host header of
	// its health checks; a host's proxy is named after the host. Default
	// DefaultName.
	Name string
	// Upstreams are the "host:port" addresses of the servers, at least
	// one, each once.
	Upstreams []string
	// Strategy is RoundRobin (the default), LeastConn,
	// IPHash or RandomTwo.
	Strategy string

	// HealthPath, when set, is requested on every upstream every
	// HealthInterval; an answer other than 2xx or 3xx within HealthTimeout
	// takes the upstream out of rotation until a check passes. Default "":
	// no active checks.
	HealthPath string
	// HealthInterval is the pause between one round of checks (all the
	// upstreams at once) and the next. Default DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthTimeout bounds one check. Default DefaultHealthTimeout.
	HealthTimeout time.Duration
	// ExternalHealth leaves the active checks to someone else, who reports
	// their results with Proxy.SetUpstreamUp: a supervisor checks
	// once for all its workers. Upstreams count as up until reported down.
	ExternalHealth bool

	// MaxFails errors (a failed connection, a timeout, a broken response)
	// within FailTimeout take an upstream out of rotation for FailTimeout.
	// Only the upstream's own errors count: not a request that failed
	// because of its client (a broken or oversized body, a body cut
	// short), nor one that found every connection to the upstream busy.
	// Default DefaultMaxFails; negative: never. A pool of one upstream
	// is never taken out this way (only by health checks), like nginx.
	MaxFails int
	// FailTimeout is MaxFails' window and how long the upstream then stays
	// out. Default DefaultFailTimeout.
	FailTimeout time.Duration

	// Timeout bounds every wait on an upstream (see DefaultTimeout);
	// one that passes answers 504. Default DefaultTimeout.
	Timeout time.Duration
	// ConnectTimeout bounds connecting. Default DefaultConnectTimeout,
	// at most Timeout.
	ConnectTimeout time.Duration
	// Retries is how many other upstreams a request is tried on when the
	// one it went to failed before answering: any request whose
	// connection could not be made (nothing was sent), and an idempotent
	// one (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) that failed otherwise
	// before its body was sent and before a response began; never after a
	// timeout while waiting for the answer. A request goes to 8 upstreams
	// at most, so values over 7 count as 7. Default DefaultRetries;
	// negative: none.
	Retries int
	// MaxConnsPerUpstream bounds this process's connections to one
	// upstream, its WebSocket tunnels included. Default
	// DefaultMaxConns.
	MaxConnsPerUpstream int
	// TunnelIdleTimeout closes a WebSocket tunnel that has carried
	// nothing either way for this long, like nginx's proxy_read_timeout
	// on an upgraded connection. Default DefaultTunnelIdleTimeout.
	TunnelIdleTimeout time.Duration

	// Cache, when set, may answer requests before they go upstream and
	// is offered the upstreams' answers (see Cache). Default nil: none.
	Cache Cache

	// Metrics receives the proxy's counters. Default DefaultUpstreamMetrics.
	Metrics *UpstreamMetrics
	// Log receives upstream state changes (down, up). Default: none.
	Log *zerolog.Logger
}

// Errors of New and Proxy.Update, wrapped with the offending
// value; check them with errors.Is.
var (
	// ErrNoUpstreams: a proxy without upstreams.
	ErrNoUpstreams = errors.New("proxy: no upstreams")
	// ErrUpstream: an upstream address that is not "host:port", or
	// is listed twice.
	ErrUpstream = errors.New("proxy: invalid upstream")
	// ErrStrategy: a strategy that is none of the strategy constants.
	ErrStrategy = errors.New("proxy: unknown strategy")
	// ErrClosed: Update on a closed proxy.
	ErrClosed = errors.New("proxy: closed")
)

// UpstreamProblem says what is wrong with an upstream address, or "" when
// it is a "host:port" that New accepts.
func UpstreamProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be a host:port address: " + err.Error()
	}
	if host == "" {
		return "must name a host, like \"127.0.0.1:9001\""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "port must be a number from 1 to 65535"
	}
	return ""
}

// resolve validates c and applies the defaults.
func (c Config) resolve() (Config, error) {
	if len(c.Upstreams) == 0 {
		return c, ErrNoUpstreams
	}
	c.Upstreams = slices.Clone(c.Upstreams)
	for i, u := range c.Upstreams {
		if problem := UpstreamProblem(u); problem != "" {
			return c, fmt.Errorf("%w %q: %s", ErrUpstream, u, problem)
		}
		if slices.Contains(c.Upstreams[:i], u) {
			return c, fmt.Errorf("%w %q: listed twice", ErrUpstream, u)
		}
	}
	switch c.Strategy {
	case "":
		c.Strategy = RoundRobin
	case RoundRobin, LeastConn, IPHash, RandomTwo:
	default:
		return c, fmt.Errorf("%w %q", ErrStrategy, c.Strategy)
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	c.HealthInterval = positiveOr(c.HealthInterval, DefaultHealthInterval)
	c.HealthTimeout = positiveOr(c.HealthTimeout, DefaultHealthTimeout)
	c.MaxFails = countOr(c.MaxFails, DefaultMaxFails)
	c.FailTimeout = positiveOr(c.FailTimeout, DefaultFailTimeout)
	c.Timeout = positiveOr(c.Timeout, DefaultTimeout)
	c.ConnectTimeout = min(positiveOr(c.ConnectTimeout, DefaultConnectTimeout), c.Timeout)
	c.Retries = countOr(c.Retries, DefaultRetries)
	c.MaxConnsPerUpstream = positiveOr(c.MaxConnsPerUpstream, DefaultMaxConns)
	c.TunnelIdleTimeout = positiveOr(c.TunnelIdleTimeout, DefaultTunnelIdleTimeout)
	if c.Metrics == nil {
		c.Metrics = DefaultUpstreamMetrics
	}
	return c, nil
}

// positiveOr is v, or d when v is zero or negative (unset).
func positiveOr[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// countOr is v, or d when v is zero (unset), or 0 when v is negative
// (none).
func countOr(v, d int) int {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

// Proxy forwards requests to a pool of upstreams. Its upstreams,
// strategy and limits can be changed while it serves (Update), and its
// health can be fed from outside (SetUpstreamUp). Close it when done.
type Proxy struct {
	pool    atomic.Pointer[proxyPool]
	handler fasthttp.RequestHandler
	log     zerolog.Logger

	mu      sync.Mutex // guards what follows, and serializes Update
	checker *HealthChecker
	metrics *UpstreamMetrics
	closed  bool
	// tunnels are the WebSocket tunnels open now; tunnelWG waits for
	// them (ws.go).
	tunnels  map[*wsTunnel]struct{}
	tunnelWG sync.WaitGroup
}

// proxyPool is one immutable configuration of a proxy: a request loads it
// once and uses it to the end, so an Update never changes a request's
// upstreams under it.
type proxyPool struct {
	cfg      Config
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
	case LeastConn:
		return stratLeastConn
	case IPHash:
		return stratIPHash
	case RandomTwo:
		return stratRandomTwo
	}
	return stratRoundRobin
}

// Handler returns a handler that forwards every request to cfg's upstreams,
// for a route or a host's middleware. It panics on an invalid cfg, as a
// route with a nil handler does; use New to get the error, to change
// the upstreams later, or to close the proxy.
func Handler(cfg Config) fasthttp.RequestHandler {
	p, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return p.Handler()
}

// New validates cfg and returns a proxy. When cfg.HealthPath is set
// and cfg.ExternalHealth is not, it starts checking the upstreams at once,
// in a goroutine that Close stops.
func New(cfg Config) (*Proxy, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	p := &Proxy{metrics: rc.Metrics, log: zerolog.Nop()}
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
func (p *Proxy) Handler() fasthttp.RequestHandler { return p.handler }

// Name returns the proxy's name (its metrics' host label).
func (p *Proxy) Name() string { return p.pool.Load().cfg.Name }

// Update replaces the proxy's configuration while it serves. Upstreams
// that stay keep their connections, counters and health; requests in
// flight finish on the configuration they started with; the connections
// of upstreams that left are closed once their last request ends. On an
// error nothing changes.
func (p *Proxy) Update(cfg Config) error {
	rc, err := cfg.resolve()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
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
func (p *Proxy) SetUpstreamUp(addr string, up bool) {
	p.setActive(addr, up)
}

// UpstreamUp reports whether the upstream is in rotation now, and whether
// the proxy has it at all.
func (p *Proxy) UpstreamUp(addr string) (up, ok bool) {
	u := p.pool.Load().byAddr[addr]
	if u == nil {
		return false, false
	}
	return u.available(), true
}

// Upstreams returns the proxy's upstream addresses, in order.
func (p *Proxy) Upstreams() []string {
	return slices.Clone(p.pool.Load().cfg.Upstreams)
}

func (p *Proxy) setActive(addr string, up bool) {
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

func (p *Proxy) logState(u *upstream, up bool, why string) {
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
func (p *Proxy) Close() {
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

func (p *Proxy) startChecks(rc Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startChecksLocked(rc)
}

func (p *Proxy) startChecksLocked(rc Config) {
	if rc.HealthPath == "" || rc.ExternalHealth {
		return
	}
	p.checker = NewHealthChecker(rc, p.setActive)
}

// newPool builds a pool for rc, reusing old's upstreams whose address and
// connection settings are unchanged.
func (p *Proxy) newPool(rc Config, old *proxyPool) *proxyPool {
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
