package worker

import (
	"fmt"
	"maps"
	"slices"
)

// registry is the manager's host and tenant registry. It is immutable: a
// change builds a new one under the manager's lock and publishes it.
type registry struct {
	hosts    map[string]*HostConfig   // canonical name -> private copy
	tenants  map[string]*TenantConfig // id -> private copy, hosts canonical
	tenantOf map[string]string        // host -> registered tenant id
	// withdrawn are the hosts UnregisterHost took away: no server serves
	// them, even one whose HostConfigs or router names them, until
	// RegisterHost adds them again.
	withdrawn map[string]bool
}

func newRegistry() *registry {
	return &registry{
		hosts:     make(map[string]*HostConfig),
		tenants:   make(map[string]*TenantConfig),
		tenantOf:  make(map[string]string),
		withdrawn: make(map[string]bool),
	}
}

func (r *registry) clone() *registry {
	return &registry{
		hosts:     maps.Clone(r.hosts),
		tenants:   maps.Clone(r.tenants),
		tenantOf:  maps.Clone(r.tenantOf),
		withdrawn: maps.Clone(r.withdrawn),
	}
}

// tenantFor returns the tenant a host belongs to: the registered tenant
// that lists it, else its HostConfig.TenantID.
func (r *registry) tenantFor(name string, cfg *HostConfig) string {
	if t, ok := r.tenantOf[name]; ok {
		return t
	}
	if cfg != nil {
		return cfg.TenantID
	}
	return ""
}

func (r *registry) withHost(hostname string, config HostConfig) (*registry, error) {
	n := r.clone()
	if err := n.addHost(hostname, config); err != nil {
		return nil, err
	}
	return n, nil
}

// addHost adds a host to r itself; only for a registry not yet published.
func (r *registry) addHost(hostname string, config HostConfig) error {
	if err := ValidateHostname(hostname); err != nil {
		return err
	}
	name := CanonicalHostname(hostname)
	if _, dup := r.hosts[name]; dup {
		return fmt.Errorf("%w: %q", ErrHostExists, name)
	}
	if err := validateRateLimit("host "+name, config.RateLimits); err != nil {
		return err
	}
	if err := validateFilePolicy(name, &config); err != nil {
		return err
	}
	cfg := config
	cfg.Hostname = name
	cfg.Middleware = slices.Clone(config.Middleware)
	cfg.CacheControl = maps.Clone(config.CacheControl)
	if config.RateLimits != nil {
		rl := *config.RateLimits
		cfg.RateLimits = &rl
	}
	r.hosts[name] = &cfg
	delete(r.withdrawn, name)
	return nil
}

// withoutHost takes a canonical name out of service: out of the registry,
// its tenant and every server's dispatch. claimed says a server names it
// in its HostConfigs or router, which makes it known without registering.
func (r *registry) withoutHost(name string, claimed bool) (*registry, error) {
	_, registered := r.hosts[name]
	if !registered && (!claimed || r.withdrawn[name]) {
		return nil, fmt.Errorf("%w: %q", ErrHostNotFound, name)
	}
	n := r.clone()
	delete(n.hosts, name)
	n.withdrawn[name] = true
	if id, ok := n.tenantOf[name]; ok {
		delete(n.tenantOf, name)
		t := *n.tenants[id]
		t.Hosts = slices.DeleteFunc(slices.Clone(t.Hosts), func(h string) bool { return h == name })
		n.tenants[id] = &t
	}
	return n, nil
}

func (r *registry) withTenant(config TenantConfig) (*registry, error) {
	n := r.clone()
	if err := n.addTenant(config); err != nil {
		return nil, err
	}
	return n, nil
}

// addTenant adds a tenant to r itself; only for a registry not yet published.
func (r *registry) addTenant(config TenantConfig) error {
	id := config.ID
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTenantID)
	}
	if _, dup := r.tenants[id]; dup {
		return fmt.Errorf("%w: %q", ErrTenantExists, id)
	}
	if len(config.Hosts) == 0 {
		return fmt.Errorf("%w: tenant %q", ErrNoHosts, id)
	}
	if err := validateRateLimit("tenant "+id, config.RateLimits); err != nil {
		return err
	}
	hosts := make([]string, 0, len(config.Hosts))
	for _, h := range config.Hosts {
		name := CanonicalHostname(h)
		cfg, ok := r.hosts[name]
		if !ok {
			return fmt.Errorf("tenant %q: %w: %q", id, ErrHostNotFound, name)
		}
		if other, ok := r.tenantOf[name]; ok {
			return fmt.Errorf("tenant %q: %w: %q belongs to %q", id, ErrHostInTenant, name, other)
		}
		if cfg.TenantID != "" && cfg.TenantID != id {
			return fmt.Errorf("tenant %q: %w: %q is configured for %q", id, ErrHostInTenant, name, cfg.TenantID)
		}
		if slices.Contains(hosts, name) {
			continue
		}
		hosts = append(hosts, name)
	}
	t := config
	t.Hosts = hosts
	if config.RateLimits != nil {
		rl := *config.RateLimits
		t.RateLimits = &rl
	}
	r.tenants[id] = &t
	for _, h := range hosts {
		r.tenantOf[h] = id
	}
	return nil
}

func (r *registry) withoutTenant(id string) (*registry, error) {
	t, ok := r.tenants[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrTenantNotFound, id)
	}
	n := r.clone()
	delete(n.tenants, id)
	for _, h := range t.Hosts {
		delete(n.tenantOf, h)
	}
	return n, nil
}
