package supervisor

import (
	"encoding/json"
	"sync"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// Control messages of the reverse proxy (issue 7).
const (
	// msgUpstreams: master to worker, no reply. The health of the
	// upstreams of every proxy host with a health_path, as the master's
	// checks found it (upstreamStates).
	msgUpstreams = "upstreams"
	// msgUpstreamMetrics: master asks, worker answers with its upstream
	// counters ([]wireUpstream).
	msgUpstreamMetrics = "upstream_metrics"
)

// upstreamStates is the body of msgUpstreams: the whole state every time,
// so that a lost or late message is made good by the next one. Version
// grows with every change; a worker ignores an older one.
type upstreamStates struct {
	Version uint64 `json:"version"`
	// Hosts maps a proxy host to its checked upstreams and whether each
	// passed its last check; an upstream not listed counts as up.
	Hosts map[string]map[string]bool `json:"hosts"`
}

// proxySet is a worker's proxies, one per proxy host. A config push
// updates the proxy of a host that keeps one in place (its connections,
// counters and health stay, and its requests in flight finish), and closes
// the proxy of a host that no longer has one; closing lets its requests
// in flight finish too.
type proxySet struct {
	log    zerolog.Logger
	mu     sync.Mutex
	byHost map[string]*proxy.Proxy
	states upstreamStates
}

// proxyConfig maps a host's proxy table to the proxy package's config.
// The master checks the upstreams' health for all workers.
func proxyConfig(h *config.Host, log *zerolog.Logger) proxy.Config {
	p := h.Proxy
	pc := proxy.Config{
		Name:           h.Hostname,
		Upstreams:      p.Upstreams,
		Strategy:       p.Strategy,
		HealthPath:     p.HealthPath,
		HealthInterval: p.HealthInterval,
		ExternalHealth: true,
		MaxFails:       p.MaxFails,
		FailTimeout:    p.FailTimeout,
		Timeout:        p.Timeout,
		Retries:        p.Retries,
		Log:            log,

		TunnelIdleTimeout: p.TunnelIdleTimeout,
	}
	// The file's 0 means none; the proxy package's 0 means its default.
	if pc.MaxFails == 0 {
		pc.MaxFails = -1
	}
	if pc.Retries == 0 {
		pc.Retries = -1
	}
	return pc
}

// attach gives host hc its proxy when h has one: the proxy it had,
// updated, or a new one. Its requests stream their bodies.
func (s *proxySet) attach(hc *worker.HostConfig, h *config.Host) error {
	if h.Proxy == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byHost == nil {
		s.byHost = make(map[string]*proxy.Proxy)
	}
	cfg := proxyConfig(h, &s.log)
	p := s.byHost[h.Hostname]
	if p != nil {
		if err := p.Update(cfg); err != nil {
			return err
		}
	} else {
		var err error
		if p, err = proxy.New(cfg); err != nil {
			return err
		}
		s.byHost[h.Hostname] = p
	}
	s.applyLocked(h.Hostname, p)
	handler := p.Handler()
	hc.Middleware = []worker.MiddlewareFunc{func(fasthttp.RequestHandler) fasthttp.RequestHandler { return handler }}
	hc.StreamRequestBody = true
	return nil
}

// sweep closes the proxies of hosts that cfg no longer proxies.
func (s *proxySet) sweep(cfg *config.Config) {
	keep := make(map[string]bool)
	for _, h := range cfg.Hosts {
		if h.Proxy != nil {
			keep[h.Hostname] = true
		}
	}
	s.mu.Lock()
	var gone []*proxy.Proxy
	for host, p := range s.byHost {
		if !keep[host] {
			gone = append(gone, p)
			delete(s.byHost, host)
		}
	}
	s.mu.Unlock()
	for _, p := range gone {
		p.Close()
	}
}

// setStates applies a msgUpstreams body from the master.
func (s *proxySet) setStates(body []byte) {
	var st upstreamStates
	if json.Unmarshal(body, &st) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.Version < s.states.Version {
		return
	}
	s.states = st
	for host, p := range s.byHost {
		s.applyLocked(host, p)
	}
}

func (s *proxySet) applyLocked(host string, p *proxy.Proxy) {
	checked := s.states.Hosts[host]
	for _, addr := range p.Upstreams() {
		up, ok := checked[addr]
		p.SetUpstreamUp(addr, up || !ok)
	}
}

// wireUpstream is one upstream's counters on the control channel.
type wireUpstream struct {
	Host     string            `json:"host"`
	Upstream string            `json:"upstream"`
	Codes    map[string]uint64 `json:"codes,omitempty"` // JSON keys are strings
	Buckets  []uint64          `json:"buckets"`
	SumNanos int64             `json:"sum_ns"`
	Active   int64             `json:"active"`
	Listed   bool              `json:"listed"`
	Up       bool              `json:"up"`
}

// upstreamWire is this worker's upstream counters for msgUpstreamMetrics.
func upstreamWire() []wireUpstream {
	snap := proxy.DefaultUpstreamMetrics.Snapshot()
	out := make([]wireUpstream, 0, len(snap))
	for k, s := range snap {
		w := wireUpstream{
			Host: k.Host, Upstream: k.Upstream, Buckets: s.Latency.Counts[:],
			SumNanos: int64(s.Latency.Sum), Active: s.Active, Listed: s.Listed, Up: s.Up,
		}
		if len(s.Codes) > 0 {
			w.Codes = make(map[string]uint64, len(s.Codes))
			for code, n := range s.Codes {
				w.Codes[codeLabel(code)] = n
			}
		}
		out = append(out, w)
	}
	return out
}
