package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/netutil"
)

// ServerManager runs several servers in one process and keeps the host and
// tenant registries they share.
type ServerManager interface {
	// NewServer creates a server and tracks it. It starts nothing.
	NewServer(config ServerConfig) Server

	// StartAll starts every server that has an address (from AddServer or
	// ServerConfig.Addr) and returns once all of them accept. If one fails,
	// it stops the ones it started and returns the error.
	StartAll() error
	// StopAll closes every server at once.
	StopAll() error
	// GracefulShutdown stops accepting, lets in-flight requests finish and
	// closes idle connections, on every server. After timeout it closes the
	// rest and returns an error wrapping context.DeadlineExceeded.
	GracefulShutdown(timeout time.Duration) error

	// RegisterHost adds a host; it takes effect on running servers at once.
	RegisterHost(hostname string, config HostConfig) error
	// RegisterTenant adds a tenant of already registered hosts.
	RegisterTenant(tenantID string, hosts []string) error
	// RegisterTenantConfig adds a tenant with a rate limit shared by its hosts.
	RegisterTenantConfig(config TenantConfig) error
	// UnregisterHost takes a host out of service and out of its tenant.
	// It may name a registered host or one a server claims in its
	// HostConfigs or router (ErrHostNotFound otherwise). Afterwards nothing
	// of the host is served, not its routes, files or middleware: its
	// requests get what a host never heard of gets (a matching wildcard
	// host, else the root router's own routes, else 404), on running
	// servers and on servers made later, until RegisterHost adds it again.
	UnregisterHost(hostname string) error
	// UnregisterTenant removes a tenant; its hosts stay registered.
	UnregisterTenant(tenantID string) error
	// Hosts returns the registered host names.
	Hosts() []string
	// Tenants returns the registered tenants' IDs and hosts.
	Tenants() map[string][]string

	// GetServer returns the server registered under addr.
	GetServer(addr string) (Server, bool)
	// GetServers returns every tracked server, in creation order.
	GetServers() []Server
	// GetServerCount counts the tracked servers, each once.
	GetServerCount() int
	// AddServer registers s under addr; StartAll will listen there.
	AddServer(addr string, s Server) error
	// RemoveServer stops the server registered under addr (gracefully, up
	// to its ShutdownTimeout) and forgets it. If other servers have the
	// same address, the next of them is then registered under it.
	RemoveServer(addr string) error

	// HealthCheck connects to every server; it returns nil only if all are
	// running and accept, else an error naming each failing server.
	HealthCheck() error
	// IsHealthy is HealthCheck() == nil.
	IsHealthy() bool

	// Metrics returns a snapshot of every server's, host's and tenant's counters.
	Metrics() MetricsSnapshot
	// Drain stops every server the way a supervisor retires a worker,
	// without racing keep-alive clients; see drain.go.
	Drain(ctx context.Context, linger time.Duration) error
	// ReplaceHosts swaps the whole host and tenant registry for a new one
	// in one step; if any entry is invalid nothing changes.
	ReplaceHosts(hosts []HostConfig, tenants []TenantConfig) error
	// SetLogger sets the logger for lifecycle events and errors.
	SetLogger(l zerolog.Logger)
	// SetLimiterFactory replaces the in-process limiters (NewLocalLimiter)
	// for limits created from now on; the supervisor sets one whose
	// buckets are shared by all workers.
	SetLimiterFactory(f LimiterFactory)
	// SetCounterAllocator makes the manager take each series' counters
	// from f, such as memory shared with a supervisor; see counters.go.
	SetCounterAllocator(f CounterAllocator)
}

// NewServerManager returns an empty manager that logs to stderr.
func NewServerManager() ServerManager {
	return &serverManager{
		byAddr:   make(map[string]*server),
		bindings: make(map[string]*binding),
		reg:      newRegistry(),
		cells:    make(map[SeriesKey]*cell),
		limiters: make(map[LimiterKey]limiterEntry),
		newLim:   func(_ LimiterKey, c RateLimitConfig) Limiter { return NewLocalLimiter(c) },
		log:      zerolog.New(os.Stderr).With().Timestamp().Logger(),
	}
}

type serverManager struct {
	mu       sync.Mutex
	servers  []*server
	nextID   int
	byAddr   map[string]*server
	bindings map[string]*binding
	reg      *registry
	cells    map[SeriesKey]*cell
	limiters map[LimiterKey]limiterEntry
	newLim   LimiterFactory
	log      zerolog.Logger

	newCounters CounterAllocator // nil: cells on the heap
}

type limiterEntry struct {
	cfg RateLimitConfig
	lim Limiter
}

func (m *serverManager) SetLogger(l zerolog.Logger) {
	m.mu.Lock()
	m.log = l
	m.mu.Unlock()
}

func (m *serverManager) SetLimiterFactory(f LimiterFactory) {
	m.mu.Lock()
	m.newLim = f
	clear(m.limiters)
	m.rebuildLocked()
	m.mu.Unlock()
}

func (m *serverManager) NewServer(config ServerConfig) Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.trackLocked(config)
}

func (m *serverManager) trackLocked(config ServerConfig) *server {
	m.nextID++
	s := &server{m: m, id: m.nextID, cfg: config.withDefaults()}
	s.access = accessLogger(s.cfg)
	s.cfg.HostConfigs = canonicalHostConfigs(config.HostConfigs)
	m.servers = append(m.servers, s)
	// A server with an address is started by StartAll, even when another
	// server has the same address (they share the port, as Listen does);
	// GetServer finds the first. A port-0 address is registered once the
	// kernel has picked the port.
	if config.Addr != "" {
		s.addr = config.Addr
		if _, taken := m.byAddr[config.Addr]; !taken && !isEphemeral(config.Addr) {
			m.byAddr[config.Addr] = s
		}
	}
	return s
}

func canonicalHostConfigs(in map[string]*HostConfig) map[string]*HostConfig {
	out := make(map[string]*HostConfig, len(in))
	for name, c := range in {
		if c == nil {
			c = &HostConfig{}
		}
		out[CanonicalHostname(stripPort(name))] = c
	}
	return out
}

// ---- Host and tenant registries ----

func (m *serverManager) update(change func(*registry) (*registry, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := change(m.reg)
	if err != nil {
		return err
	}
	m.reg = n
	m.rebuildLocked()
	return nil
}

func (m *serverManager) RegisterHost(hostname string, config HostConfig) error {
	return m.update(func(r *registry) (*registry, error) { return r.withHost(hostname, config) })
}

func (m *serverManager) UnregisterHost(hostname string) error {
	name := CanonicalHostname(hostname)
	return m.update(func(r *registry) (*registry, error) { return r.withoutHost(name, m.claimedLocked(name)) })
}

// claimedLocked reports whether a server names host in its HostConfigs or
// its router.
func (m *serverManager) claimedLocked(name string) bool {
	for _, s := range m.servers {
		if slices.Contains(s.ownedHosts(), name) {
			return true
		}
	}
	return false
}

func (m *serverManager) RegisterTenant(tenantID string, hosts []string) error {
	return m.RegisterTenantConfig(TenantConfig{ID: tenantID, Hosts: hosts})
}

func (m *serverManager) RegisterTenantConfig(config TenantConfig) error {
	return m.update(func(r *registry) (*registry, error) { return r.withTenant(config) })
}

func (m *serverManager) UnregisterTenant(tenantID string) error {
	return m.update(func(r *registry) (*registry, error) { return r.withoutTenant(tenantID) })
}

func (m *serverManager) Hosts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.reg.hosts))
}

func (m *serverManager) Tenants() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.reg.tenants))
	for id, t := range m.reg.tenants {
		out[id] = slices.Clone(t.Hosts)
	}
	return out
}

// ---- Server registry ----

func (m *serverManager) GetServer(addr string) (Server, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byAddr[addr]
	if !ok {
		return nil, false
	}
	return s, true
}

func (m *serverManager) GetServers() []Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Server, len(m.servers))
	for i, s := range m.servers {
		out[i] = s
	}
	return out
}

func (m *serverManager) GetServerCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.servers)
}

func (m *serverManager) AddServer(addr string, srv Server) error {
	if addr == "" {
		return fmt.Errorf("%w: empty address", ErrNoAddress)
	}
	s, ok := srv.(*server)
	if !ok || s == nil {
		return fmt.Errorf("%w: add server %s: not made by NewServer", ErrForeignServer, addr)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.m != m {
		return fmt.Errorf("%w: add server %s: it belongs to another manager", ErrForeignServer, addr)
	}
	if other, taken := m.byAddr[addr]; taken && other != s {
		return fmt.Errorf("%w: %s", ErrServerExists, addr)
	}
	if s.addr != "" && m.byAddr[s.addr] == s {
		delete(m.byAddr, s.addr)
	}
	s.addr = addr
	m.byAddr[addr] = s
	return nil
}

func (m *serverManager) RemoveServer(addr string) error {
	m.mu.Lock()
	s, ok := m.byAddr[addr]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrServerNotFound, addr)
	}
	delete(m.byAddr, addr)
	m.servers = slices.DeleteFunc(m.servers, func(x *server) bool { return x == s })
	// Another server with the same address (one sharing the port) now
	// answers to it.
	if i := slices.IndexFunc(m.servers, func(x *server) bool { return x.addr == addr }); i >= 0 {
		m.byAddr[addr] = m.servers[i]
	}
	m.mu.Unlock()
	return s.Shutdown(context.Background())
}

// ---- Lifecycle ----

// bind makes s listen on addr, alone or beside the servers already there,
// and returns a function that blocks until s stops.
// A non-nil ln is used instead of opening a socket; non-nil tlsOpts serve
// TLS (tls_serve.go).
func (m *serverManager) bind(s *server, addr string, tlsOpts *tlsOptions, ln net.Listener) (wait func() error, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.bound != nil {
		return nil, fmt.Errorf("%w: %s", ErrServerRunning, s.name())
	}
	// RegisterHost checks a host's limit; a server's own HostConfigs are
	// checked here, so that a bad one fails Listen instead of refusing
	// every request of its host.
	for name, c := range s.cfg.HostConfigs {
		if err := validateRateLimit("host "+name, c.RateLimits); err != nil {
			return nil, err
		}
		if err := validateFilePolicy(name, c); err != nil {
			return nil, err
		}
	}
	real, err := newRealIP(s.cfg)
	if err != nil {
		return nil, err
	}
	var b *binding
	if !isEphemeral(addr) && ln == nil {
		b = m.bindings[addr]
	}
	if b != nil {
		if err := m.checkOwnershipLocked(b, s); err != nil {
			return nil, err
		}
		if !sameRealIP(b.members[0].cfg, s.cfg) {
			return nil, fmt.Errorf("%w: %s: trusted proxies, real IP header and PROXY protocol must agree with the servers already there",
				ErrInvalidTrustedProxies, addr)
		}
	} else {
		if ln == nil {
			if ln, err = netutil.ListenReusePort("tcp", addr); err != nil {
				return nil, fmt.Errorf("worker: listen %s: %w", addr, err)
			}
		}
		if isEphemeral(addr) {
			// Port 0: the kernel picked a port; that is the address now.
			if s.addr == addr {
				if m.byAddr[addr] == s {
					delete(m.byAddr, addr)
				}
				s.addr = ""
			}
			addr = ln.Addr().String()
		}
		// serverConns under TLS, so that ctx.IsTLS still sees a *tls.Conn;
		// their phase timeouts start at once on plain TCP, after the
		// handshake under TLS.
		conns := newConnGroup(s.cfg)
		var ts *tlsServe
		var loop *eventLoop
		if s.cfg.ProxyProtocol {
			// Before the event loop (which it replaces) and TLS (which
			// it comes before on the wire); see proxyproto.go.
			ln = newProxyListener(ln, s.cfg, real)
		}
		if tlsOpts == nil && !s.cfg.DisableEventLoop && !s.cfg.ProxyProtocol {
			l, hl, lerr := newEventLoop(ln, s.cfg, conns, m.log)
			switch {
			case lerr == nil:
				loop, ln = l, hl // the loop accepts; the fasthttp server gets what it hands on
			case !errors.Is(lerr, errors.ErrUnsupported):
				m.log.Warn().Err(lerr).Str("addr", addr).Msg("no event loop: every connection gets a goroutine")
			}
		}
		if tlsOpts == nil && loop == nil {
			ln = connListener{Listener: ln, g: conns}
		} else if tlsOpts != nil {
			raw := connListener{Listener: ln}
			if ts, ln, err = newTLSServe(raw, tlsOpts, s.cfg, conns, m.log); err != nil {
				_ = raw.Close()
				return nil, err
			}
		}
		b = newBinding(addr, ln, s.cfg, m.log)
		b.real = real
		b.tls = ts
		if ts == nil && s.cfg.EnableHTTP2 {
			// Cleartext HTTP/2 with prior knowledge (h2c).
			b.h2c = newH2Server(nil, s.cfg, m.log)
			b.h2c.b = b
			conns.h2c = b.h2c
		}
		b.loop = loop
		ts.attach(b)
		m.bindings[addr] = b
	}
	b.members = append(b.members, s)
	s.bound = b
	released := make(chan struct{})
	s.released = released
	s.exitErr = nil
	if s.addr == "" {
		s.addr = addr
		if _, taken := m.byAddr[addr]; !taken {
			m.byAddr[addr] = s
		}
	}
	m.rebuildBindingLocked(b)
	if len(b.members) == 1 {
		b.start(m.serveFailed)
		m.log.Info().Str("addr", addr).Str("listen", b.ln.Addr().String()).Str("protocol", s.Protocol()).Msg("server listening")
	}
	return func() error {
		<-released
		m.mu.Lock()
		defer m.mu.Unlock()
		return s.exitErr
	}, nil
}

// serveFailed releases every member when Serve fails on its own.
func (m *serverManager) serveFailed(b *binding) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log.Error().Err(b.serveErr).Str("addr", b.addr).Msg("server stopped")
	for _, s := range b.members {
		s.exitErr = fmt.Errorf("worker: serve %s: %w", b.addr, b.serveErr)
		s.bound = nil
		close(s.released)
	}
	b.members = nil
	if m.bindings[b.addr] == b {
		delete(m.bindings, b.addr)
	}
}

func (m *serverManager) checkOwnershipLocked(b *binding, s *server) error {
	mine := s.ownedHosts()
	for _, other := range b.members {
		for _, h := range other.ownedHosts() {
			if slices.Contains(mine, h) {
				return fmt.Errorf("%w: %q on %s", ErrHostOwned, h, b.addr)
			}
		}
	}
	return nil
}

// ownedHosts are the hosts a server claims: its HostConfigs and its router's hosts.
func (s *server) ownedHosts() []string {
	names := slices.Collect(maps.Keys(s.cfg.HostConfigs))
	if r := s.router.Load(); r != nil {
		for _, h := range r.Hosts() {
			if !slices.Contains(names, h) {
				names = append(names, h)
			}
		}
	}
	return names
}

// unbind takes s off its binding, and stops the binding if s was the last
// member.
func (m *serverManager) unbind(s *server, ctx context.Context) error {
	m.mu.Lock()
	b := s.bound
	if b == nil {
		m.mu.Unlock()
		return nil
	}
	b.members = slices.DeleteFunc(b.members, func(x *server) bool { return x == s })
	s.bound = nil
	released := s.released
	last := len(b.members) == 0
	if last {
		if m.bindings[b.addr] == b {
			delete(m.bindings, b.addr)
		}
	} else {
		m.rebuildBindingLocked(b)
	}
	m.mu.Unlock()

	var err error
	if last {
		err = b.shutdown(ctx)
		m.log.Info().Str("addr", b.addr).Err(err).Msg("server stopped")
	}
	close(released)
	return err
}

func (m *serverManager) StartAll() error {
	m.mu.Lock()
	var todo []*server
	for _, s := range m.servers {
		if s.bound == nil && s.addr != "" {
			todo = append(todo, s)
		}
	}
	m.mu.Unlock()
	var started []*server
	for _, s := range todo {
		if _, err := m.bind(s, s.Addr(), nil, nil); err != nil {
			for _, st := range started {
				_ = st.Close()
			}
			return fmt.Errorf("worker: start all: %w", err)
		}
		started = append(started, s)
	}
	return nil
}

func (m *serverManager) running() []*server {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*server
	for _, s := range m.servers {
		if s.bound != nil {
			out = append(out, s)
		}
	}
	// Servers that were removed from the registry but still listen.
	for _, b := range m.bindings {
		for _, s := range b.members {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func (m *serverManager) StopAll() error {
	var wg sync.WaitGroup
	for _, s := range m.running() {
		wg.Go(func() { _ = s.Close() })
	}
	wg.Wait()
	return nil
}

func (m *serverManager) GracefulShutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout,
		fmt.Errorf("%w after %s", ErrShutdownTimeout, timeout))
	defer cancel()
	servers := m.running()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { errs[i] = s.Shutdown(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker: graceful shutdown: %w", err)
	}
	return nil
}

// ---- Health ----

func (m *serverManager) HealthCheck() error {
	type target struct{ name, addr string }
	var targets []target
	var errs []error
	m.mu.Lock()
	for _, s := range m.servers {
		if s.bound == nil {
			errs = append(errs, fmt.Errorf("server %s: %w", s.name(), ErrServerNotRunning))
			continue
		}
		if s.bound.tls.quicAlone() {
			continue // HTTP/3 alone: no TCP port to dial; bound means serving
		}
		targets = append(targets, target{s.name(), s.bound.dialAddr()})
	}
	m.mu.Unlock()
	for _, t := range targets {
		c, err := net.DialTimeout("tcp", t.addr, time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("server %s: does not accept: %w", t.name, err))
			continue
		}
		_ = c.Close()
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrUnhealthy, errors.Join(errs...))
	}
	return nil
}

func (m *serverManager) IsHealthy() bool { return m.HealthCheck() == nil }

// ---- Metrics ----

func (m *serverManager) Metrics() MetricsSnapshot {
	snap := NewMetricsSnapshot()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.cells {
		snap.addSeries(k, c.stats())
	}
	for _, s := range m.servers {
		addTo(snap.Servers, s.name(), Stats{})
	}
	for _, b := range m.allBindingsLocked() {
		if len(b.members) > 0 {
			addTo(snap.Servers, b.members[0].name(), Stats{Active: b.active.Load()})
		}
	}
	return snap
}

// isEphemeral reports whether addr asks the kernel for a port (":0").
func isEphemeral(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}
