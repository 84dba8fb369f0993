package worker

// ReplaceHosts validates hosts and tenants as RegisterHost and
// RegisterTenantConfig would, in order, on an empty registry, and then
// publishes the result in one step: requests see either the old set or the
// new one, never a mix. Limiters of unchanged limits keep their state.
// A host UnregisterHost took away stays away unless hosts names it. On
// any error nothing changes.
func (m *serverManager) ReplaceHosts(hosts []HostConfig, tenants []TenantConfig) error {
	next := newRegistry()
	for _, h := range hosts {
		if err := next.addHost(h.Hostname, h); err != nil {
			return err
		}
	}
	for _, t := range tenants {
		if err := next.addTenant(t); err != nil {
			return err
		}
	}
	m.mu.Lock()
	// Hosts UnregisterHost took away stay away unless the new set has them.
	for name := range m.reg.withdrawn {
		if _, ok := next.hosts[name]; !ok {
			next.withdrawn[name] = true
		}
	}
	m.reg = next
	m.rebuildLocked()
	m.mu.Unlock()
	return nil
}
