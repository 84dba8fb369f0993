package config

import (
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/worker/proxy"
)

var strategies = []string{StrategyRoundRobin, StrategyLeastConn, StrategyIPHash, StrategyRandomTwo}

// proxy reads a host's proxy table; the workers forward with
// proxy.Proxy, and the master runs the health checks.
func (d *decoder) proxy(t *table) *Proxy {
	p := &Proxy{
		Strategy:       DefaultProxyStrategy,
		HealthInterval: DefaultHealthInterval,
		FailTimeout:    DefaultFailTimeout,
		MaxFails:       DefaultMaxFails,
		Timeout:        DefaultProxyTimeout,
		Retries:        DefaultRetries,

		TunnelIdleTimeout: DefaultTunnelIdleTimeout,
	}
	if !t.has("upstreams") {
		t.missing("upstreams")
	}
	if v, ok := t.strings("upstreams"); ok {
		field := t.field("upstreams")
		if len(v) == 0 {
			d.errorf(field, ErrInvalid, "must list at least one upstream")
		}
		seen := map[string]bool{}
		for i, u := range v {
			switch {
			case proxy.UpstreamProblem(u) != "":
				d.errorf(indexPath(field, i), ErrInvalid, "%s", proxy.UpstreamProblem(u))
			case seen[u]:
				d.errorf(indexPath(field, i), ErrDuplicate, "%q is listed twice", u)
			}
			seen[u] = true
		}
		p.Upstreams = v
	}
	if v, ok := t.str("strategy", false); ok {
		if !slices.Contains(strategies, v) {
			t.errorf("strategy", ErrInvalid, "must be one of %s", strings.Join(strategies, ", "))
		}
		p.Strategy = v
	}
	if v, ok := t.str("health_path", false); ok {
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n") {
			t.errorf("health_path", ErrInvalid, "must be a path starting with \"/\", without spaces")
		}
		p.HealthPath = v
	}
	if v, ok := t.duration("health_interval"); ok {
		if p.HealthPath == "" {
			t.errorf("health_interval", ErrConflict, "applies only with health_path")
		}
		p.HealthInterval = v
	}
	if v, ok := t.duration("fail_timeout"); ok {
		p.FailTimeout = v
	}
	if v, ok := t.integer("max_fails", 0, 1<<20); ok {
		p.MaxFails = int(v)
	}
	if v, ok := t.duration("timeout"); ok {
		p.Timeout = v
	}
	if v, ok := t.integer("retries", 0, 100); ok {
		p.Retries = int(v)
	}
	if v, ok := t.duration("tunnel_idle_timeout"); ok {
		p.TunnelIdleTimeout = v
	}
	t.finish()
	return p
}

// ProxyConfig maps the host's proxy table (h.Proxy, which must not be
// nil) to the proxy package's config, logging to log (may be nil). The
// workers forward with it; the master runs the health checks for all of
// them (ExternalHealth).
func (h *Host) ProxyConfig(log *zerolog.Logger) proxy.Config {
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
