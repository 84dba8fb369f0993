package config

import (
	"net/url"
	"time"
)

// DefaultClusterMachines is cluster.machines' default.
const DefaultClusterMachines = 1

// DefaultClusterTimeout is cluster.timeout's default: how long one Redis
// call may take before the master treats Redis as away.
const DefaultClusterTimeout = 50 * time.Millisecond

// DefaultClusterLeaseWindow is cluster.lease_window's default.
const DefaultClusterLeaseWindow = 100 * time.Millisecond

// Cluster is the [cluster] section: what several Rockstar machines behind
// one load balancer share, through Redis. With Redis "" (the default)
// every machine stands alone and the section's other keys are unused.
//
// A host or tenant rate_limit with scope = "cluster" is one budget for
// every machine that names the same Redis: each machine's master leases
// shares of it into the machine's shared memory, where the workers spend
// them (package supervisor/cluster); limits of the default scope,
// "machine", stay per machine.
//
// Cache purges use it too: with Redis set, each purge of the admin API is
// published to the other machines, which apply it (the master's
// cachepurge.go).
type Cluster struct {
	// Redis (redis) is the Redis server's URL: redis://[user:pass@]host:port/db,
	// rediss:// for TLS, or unix:///path/to/socket. Default "": no cluster.
	Redis string
	// Machines (machines) is how many machines are expected to share the
	// cluster's limits, 1 to 1024: with Redis away, a limit whose
	// on_cluster_failure is "local" admits its limit ÷ Machines on each;
	// after an outage, queued cache purges are published once Machines
	// masters are subscribed again (or after 2 s). Default
	// DefaultClusterMachines.
	Machines int
	// Timeout (timeout) bounds each Redis call; past it Redis counts as
	// away for that call. Default DefaultClusterTimeout.
	Timeout time.Duration
	// LeaseWindow (lease_window) sizes a cluster limit's lease: each
	// machine holds at most requests_per_second × LeaseWindow of its
	// tokens (at least 1), renewed when half is spent, from 10ms to 10s.
	// Larger: fewer Redis round trips, a looser bound. Default
	// DefaultClusterLeaseWindow.
	LeaseWindow time.Duration
}

// Enabled reports whether the section names a Redis server.
func (c Cluster) Enabled() bool { return c.Redis != "" }

func (d *decoder) cluster(root *table) Cluster {
	c := Cluster{Machines: DefaultClusterMachines, Timeout: DefaultClusterTimeout, LeaseWindow: DefaultClusterLeaseWindow}
	t, ok := root.sub("cluster")
	if !ok {
		return c
	}
	if v, ok := t.str("redis", false); ok {
		if p := redisURLProblem(v); p != "" {
			t.errorf("redis", ErrInvalid, "%s", p)
		} else {
			c.Redis = v
		}
	}
	if v, ok := t.integer("machines", 1, 1024); ok {
		c.Machines = int(v)
	}
	if v, ok := t.duration("timeout"); ok {
		if v <= 0 {
			t.errorf("timeout", ErrInvalid, "must be more than 0")
		} else {
			c.Timeout = v
		}
	}
	if v, ok := t.duration("lease_window"); ok {
		if v < 10*time.Millisecond || v > 10*time.Second {
			t.errorf("lease_window", ErrInvalid, "must be from 10ms to 10s")
		} else {
			c.LeaseWindow = v
		}
	}
	t.finish()
	return c
}

// validateClusterLimits checks that a cluster-scoped limit has a Redis to
// share it through.
func (d *decoder) validateClusterLimits(c *Config) {
	if c.Cluster.Enabled() {
		return
	}
	const why = "scope = %q needs [cluster] redis, which is not set"
	for i, h := range c.Hosts {
		if h.RateLimit.Cluster() && i < len(d.hostPaths) {
			d.errorf(d.hostPaths[i]+".rate_limit.scope", ErrMissing, why, ScopeCluster)
		}
	}
	for i, tn := range c.Tenants {
		if tn.RateLimit.Cluster() && i < len(d.tenantPaths) {
			d.errorf(d.tenantPaths[i]+".rate_limit.scope", ErrMissing, why, ScopeCluster)
		}
	}
}

// redisURLProblem says what is wrong with a Redis URL, or "".
func redisURLProblem(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		return "not a URL: " + err.Error()
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return "names no host: want redis://host:port/db"
		}
	case "unix":
		if u.Path == "" {
			return "names no socket: want unix:///path/to/redis.sock"
		}
	default:
		return "must start with redis://, rediss:// or unix://"
	}
	return ""
}
