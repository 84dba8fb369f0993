package supervisor

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// upstreamResend is how often the monitor makes sure every worker has the
// latest upstream health: a worker started, or a message lost, since the
// last change gets it then.
const upstreamResend = 100 * time.Millisecond

// upstreamMonitor runs the active health checks of every proxy host with a
// health_path once, in the master, and pushes each change to every worker
// (wire.MsgUpstreams), so that N workers do not each probe the upstreams. It is
// started by startUpstreams and owns one goroutine, plus one per checker
// (proxy.HealthChecker); close stops and waits for all of them.
type upstreamMonitor struct {
	m *Master

	mu       sync.Mutex
	checkers map[string]*proxy.HealthChecker // by host
	states   wire.UpstreamStates
	sent     map[*proc]uint64 // the version each worker last got
	totals   upstreamTotals   // counters of workers gone (upstream_metrics.go)

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// startUpstreams starts the monitor on cfg's proxy hosts.
func (m *Master) startUpstreams(cfg *config.Config) *upstreamMonitor {
	u := &upstreamMonitor{
		m:        m,
		checkers: make(map[string]*proxy.HealthChecker),
		states:   wire.UpstreamStates{Version: 1, Hosts: make(map[string]map[string]bool)},
		sent:     make(map[*proc]uint64),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	u.update(cfg)
	u.wg.Go(u.loop)
	return u
}

// update starts, changes and stops checkers to match cfg's proxy hosts.
func (u *upstreamMonitor) update(cfg *config.Config) {
	if u == nil {
		return
	}
	want := make(map[string]proxy.Config)
	for _, h := range cfg.Hosts {
		if h.Proxy != nil && h.Proxy.HealthPath != "" {
			pc := h.ProxyConfig(nil)
			pc.ExternalHealth = false
			want[h.Hostname] = pc
		}
	}
	var stale []*proxy.HealthChecker
	u.mu.Lock()
	for host, c := range u.checkers {
		if _, ok := want[host]; !ok {
			stale = append(stale, c)
			delete(u.checkers, host)
			delete(u.states.Hosts, host)
		}
	}
	for host, pc := range want {
		// Forget the state of upstreams the host no longer has.
		if st := u.states.Hosts[host]; st != nil {
			for addr := range st {
				if !slices.Contains(pc.Upstreams, addr) {
					delete(st, addr)
				}
			}
		}
		if c := u.checkers[host]; c != nil {
			c.Update(pc)
			continue
		}
		u.checkers[host] = proxy.NewHealthChecker(pc, func(addr string, up bool) { u.report(host, addr, up) })
	}
	u.states.Version++
	u.mu.Unlock()
	// Outside the lock: a checker's last report may be waiting for it.
	for _, c := range stale {
		c.Close()
	}
	u.poke()
}

// report records one check result that changed, and pushes it.
func (u *upstreamMonitor) report(host, addr string, up bool) {
	u.mu.Lock()
	if u.checkers[host] == nil { // the host left meanwhile
		u.mu.Unlock()
		return
	}
	st := u.states.Hosts[host]
	if st == nil {
		st = make(map[string]bool)
		u.states.Hosts[host] = st
	}
	was, known := st[addr]
	st[addr] = up
	u.states.Version++
	u.mu.Unlock()
	switch {
	case !up:
		u.m.log.Warn().Str("host", host).Str("upstream", addr).Msg("upstream failed its health check; out of rotation")
	case known && !was:
		u.m.log.Info().Str("host", host).Str("upstream", addr).Msg("upstream passed its health check; back in rotation")
	}
	u.poke()
}

func (u *upstreamMonitor) poke() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// checked returns the master's view of a host's upstreams, for metrics.
func (u *upstreamMonitor) checked() map[string]map[string]bool {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]map[string]bool, len(u.states.Hosts))
	for h, st := range u.states.Hosts {
		out[h] = maps.Clone(st)
	}
	return out
}

// message is the current state as a control message, and its version.
func (u *upstreamMonitor) message() (*netutil.Message, uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	body, _ := json.Marshal(u.states)
	return &netutil.Message{Type: wire.MsgUpstreams, Body: body}, u.states.Version
}

// sendTo gives a worker that just got its config the current state.
func (u *upstreamMonitor) sendTo(p *proc) {
	if u == nil {
		return
	}
	msg, v := u.message()
	if p.send(msg) == nil {
		u.mu.Lock()
		u.sent[p] = max(u.sent[p], v)
		u.mu.Unlock()
	}
}

// loop pushes the state to every worker that lacks its latest version,
// at each change and every upstreamResend.
func (u *upstreamMonitor) loop() {
	t := time.NewTicker(upstreamResend)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-u.kick:
		case <-t.C:
		}
		u.push()
	}
}

func (u *upstreamMonitor) push() {
	msg, v := u.message()
	procs := u.m.allProcs()
	u.mu.Lock()
	live := make(map[*proc]bool, len(procs))
	var todo []*proc
	for _, p := range procs {
		live[p] = true
		if u.sent[p] < v && p.getState() != StateExited {
			todo = append(todo, p)
		}
	}
	for p := range u.sent {
		if !live[p] {
			delete(u.sent, p)
		}
	}
	u.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range todo {
		wg.Go(func() {
			if p.send(msg) == nil {
				u.mu.Lock()
				u.sent[p] = max(u.sent[p], v)
				u.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// close stops the checks and the pushes, and waits for them.
func (u *upstreamMonitor) close() {
	if u == nil {
		return
	}
	close(u.stop)
	u.wg.Wait()
	u.mu.Lock()
	cs := make([]*proxy.HealthChecker, 0, len(u.checkers))
	for host, c := range u.checkers {
		cs = append(cs, c)
		delete(u.checkers, host)
	}
	u.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// allProcs returns the workers of the current generation and of those
// still draining.
func (m *Master) allProcs() []*proc {
	m.mu.Lock()
	gens := make([]*generation, 0, 1+len(m.draining))
	if m.cur != nil {
		gens = append(gens, m.cur)
	}
	gens = append(gens, m.draining...)
	m.mu.Unlock()
	var out []*proc
	for _, g := range gens {
		out = append(out, g.procs()...)
	}
	return out
}
