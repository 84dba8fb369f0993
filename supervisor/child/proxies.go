package child

import (
	"encoding/json"
	"sync"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// proxySet is a worker's proxies, one per proxy host. A config push
// updates the proxy of a host that keeps one in place (its connections,
// counters and health stay, and its requests in flight finish), and closes
// the proxy of a host that no longer has one; closing lets its requests
// in flight finish too.
type proxySet struct {
	log    zerolog.Logger
	mu     sync.Mutex
	byHost map[string]*proxy.Proxy
	states wire.UpstreamStates
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
	cfg := h.ProxyConfig(&s.log)
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

// setStates applies a wire.MsgUpstreams body from the master.
func (s *proxySet) setStates(body []byte) {
	var st wire.UpstreamStates
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

// upstreamWire is this worker's upstream counters for wire.MsgUpstreamMetrics.
func upstreamWire() []wire.Upstream {
	snap := proxy.DefaultUpstreamMetrics.Snapshot()
	out := make([]wire.Upstream, 0, len(snap))
	for k, s := range snap {
		w := wire.Upstream{
			Host: k.Host, Upstream: k.Upstream, Buckets: s.Latency.Counts[:],
			SumNanos: int64(s.Latency.Sum), Active: s.Active, Listed: s.Listed, Up: s.Up,
		}
		if len(s.Codes) > 0 {
			w.Codes = make(map[string]uint64, len(s.Codes))
			for code, n := range s.Codes {
				w.Codes[wire.CodeLabel(code)] = n
			}
		}
		out = append(out, w)
	}
	return out
}
