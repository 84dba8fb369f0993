package worker

import ()

// rebuild publishes new dispatch tables after a change of hosts, tenants,
// routers or limits.
func (m *serverManager) rebuild() {
	m.mu.Lock()
	m.rebuildLocked()
	m.mu.Unlock()
}

func (m *serverManager) rebuildLocked() {
	for _, b := range m.allBindingsLocked() {
		m.buildDispatchLocked(b)
	}
	m.sweepLimitersLocked()
}

// allBindingsLocked is every binding with members: m.bindings, and those
// only a server knows. A worker handed two sockets for one address (its
// own and the shared one) has two bindings under one key in m.bindings;
// the one the map lost must be rebuilt and drained too.
func (m *serverManager) allBindingsLocked() []*binding {
	out := make([]*binding, 0, len(m.bindings))
	seen := make(map[*binding]bool)
	for _, b := range m.bindings {
		seen[b] = true
		out = append(out, b)
	}
	for _, s := range m.servers {
		if b := s.bound; b != nil && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

// rebuildBindingLocked resolves every host a binding serves into a
// hostState: each member's own hosts (HostConfigs and router hosts) go to
// that member, registered hosts that no member claims go to the first
// member, and unknown hosts to the first member's root router. A host
// UnregisterHost took away is left out, so that it is unknown too.
func (m *serverManager) rebuildBindingLocked(b *binding) {
	m.buildDispatchLocked(b)
	m.sweepLimitersLocked()
}

// buildDispatchLocked publishes b's dispatch table (see rebuildBindingLocked).
func (m *serverManager) buildDispatchLocked(b *binding) {
	if len(b.members) == 0 {
		return
	}
	d := &dispatch{hosts: newHostMap[*hostState]()}
	for _, s := range b.members {
		for _, name := range s.ownedHosts() {
			if _, taken := d.hosts.get(name); !taken && !m.reg.withdrawn[name] {
				hs := m.hostStateLocked(s, name)
				hs.real = b.real
				d.hosts.set(name, hs)
				d.inline = d.inline || hs.inline || hs.answer != nil
			}
		}
	}
	primary := b.members[0]
	for name := range m.reg.hosts {
		if _, taken := d.hosts.get(name); !taken {
			hs := m.hostStateLocked(primary, name)
			hs.real = b.real
			d.hosts.set(name, hs)
			d.inline = d.inline || hs.inline || hs.answer != nil
		}
	}
	d.def = m.defaultStateLocked(primary)
	d.def.real = b.real
	if b.tls != nil {
		b.tls.certs.Store(m.certTableLocked(b))
	}
	b.disp.Store(d)
	if b.loop != nil {
		b.loop.setAccepting(d.inline)
	}
}

// hostStateLocked resolves one host of server s. The server's own
// HostConfigs entry wins over the manager's registry.
func (m *serverManager) hostStateLocked(s *server, name string) *hostState {
	cfg := s.cfg.HostConfigs[name]
	if cfg == nil {
		cfg = m.reg.hosts[name]
	}
	tenant := m.reg.tenantFor(name, cfg)
	hs := &hostState{
		name:   name,
		tenant: tenant,
		cell:   m.cellLocked(SeriesKey{Server: s.name(), Host: name, Tenant: tenant}),
		access: s.access,
		errLog: &m.log,
	}
	if r := s.router.Load(); r != nil {
		hs.routes = r.root.subRouter(name)
	}
	var mw []MiddlewareFunc
	if cfg != nil {
		hs.files = cfg.VirtualFS
		hs.fileOpts = fileOpts{dotfiles: cfg.ServeDotfiles, noPrecompressed: cfg.NoPrecompressed}
		if cfg.VirtualFS != nil && !cfg.NoCompression {
			hs.fileOpts.compress = newCompressCache()
		}
		if cfg.VirtualFS != nil {
			hs.fileOpts.stats = newStatCache()
			hs.fileOpts.small = newSmallCache()
			hs.fileOpts.files = newFDCache()
		}
		if len(cfg.CacheControl) > 0 {
			hs.cache = cacheRules(cfg.CacheControl)
		}
		hs.fallback = cfg.Fallback
		hs.streamBody = cfg.StreamRequestBody
		hs.inline = cfg.Inline
		hs.answer = cfg.InlineAnswer
		mw = cfg.Middleware
		if cfg.RateLimits.active() {
			hs.hostLim, hs.hostKeyed = m.limitersLocked(LimiterKey{ScopeHost, name}, *cfg.RateLimits)
			hs.hostV6 = v6KeyBytes(*cfg.RateLimits)
		}
		if sec := cfg.SecurityConfig; sec != nil {
			for k, v := range sec.Headers {
				hs.headers = append(hs.headers, headerKV{k, v})
			}
		}
	}
	if t := m.reg.tenants[tenant]; t != nil && t.RateLimits.active() {
		hs.tenantLim, hs.tenantKeyed = m.limitersLocked(LimiterKey{ScopeTenant, tenant}, *t.RateLimits)
		hs.tenantV6 = v6KeyBytes(*t.RateLimits)
	}
	hs.discardBody = (cfg != nil && cfg.DiscardRequestBody) || (hs.routes == nil && len(mw) == 0)
	hs.handler = wrap(hs.core, mw)
	return hs
}

// defaultStateLocked serves requests that matched no host: the root
// router's own routes, without limits.
func (m *serverManager) defaultStateLocked(s *server) *hostState {
	hs := &hostState{
		name:   DefaultHost,
		cell:   m.cellLocked(SeriesKey{Server: s.name(), Host: DefaultHost}),
		access: s.access,
		errLog: &m.log,
		routes: s.router.Load(),
	}
	hs.handler = hs.core
	return hs
}

func (m *serverManager) cellLocked(k SeriesKey) *cell {
	c := m.cells[k]
	if c == nil {
		c = m.newCellLocked(k)
		m.cells[k] = c
	}
	return c
}

// limiterLocked returns the limiter for a bucket, reusing the one that
// exists while its limit is unchanged, so that a reload keeps its state.
func (m *serverManager) limiterLocked(k LimiterKey, cfg RateLimitConfig) Limiter {
	if e, ok := m.limiters[k]; ok && e.cfg == cfg {
		return e.lim
	}
	l := m.newLim(k, cfg)
	m.limiters[k] = limiterEntry{cfg: cfg, lim: l}
	return l
}

// sweepLimitersLocked forgets limiters of hosts and tenants that are gone.
func (m *serverManager) sweepLimitersLocked() {
	for k := range m.limiters {
		var live bool
		switch k.Scope {
		case ScopeHost:
			c := m.reg.hosts[k.Name]
			live = c != nil && c.RateLimits.active()
			for _, s := range m.servers {
				if c := s.cfg.HostConfigs[k.Name]; c != nil && c.RateLimits.active() && !m.reg.withdrawn[k.Name] {
					live = true
				}
			}
		case ScopeTenant:
			t := m.reg.tenants[k.Name]
			live = t != nil && t.RateLimits.active()
		}
		if !live {
			delete(m.limiters, k)
		}
	}
}
