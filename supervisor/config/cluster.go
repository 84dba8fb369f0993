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

// Cluster is the [cluster] section: what several Rockstar machines behind
// one load balancer share, through Redis. With Redis "" (the default)
// every machine stands alone and the section's other keys are unused.
//
// Cache purges use it: with Redis set, each purge of the admin API is
// published to the other machines, which apply it (the master's
// cachepurge.go). The fleet-wide rate limits do not yet: a machine with it
// set still keeps its limits per machine.
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
}

// Enabled reports whether the section names a Redis server.
func (c Cluster) Enabled() bool { return c.Redis != "" }

func (d *decoder) cluster(root *table) Cluster {
	c := Cluster{Machines: DefaultClusterMachines, Timeout: DefaultClusterTimeout}
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
	t.finish()
	return c
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
