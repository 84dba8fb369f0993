package config

import "reflect"

// Change says which parts of the config differ between two loads, so
// that the supervisor can pick what a reload does.
type Change struct {
	// Listeners: the [[server]] sections differ (addresses, protocols,
	// timeouts, limits, TLS files, trusted proxies, the PROXY protocol).
	// Needs a new generation of workers.
	Listeners bool
	// Workers: the worker count, user or group differ. Needs a new
	// generation of workers.
	Workers bool
	// Hosts: the hosts or tenants differ (names, roots, responses,
	// headers, rate limits, TLS files, proxies). Can be pushed to the
	// running workers in place.
	Hosts bool
	// Log: the [log] section differs (the access log, its format, the
	// level). Workers open the access log and set their level when they
	// start, so this needs a new generation of workers; the master's own
	// level is the one it started with.
	Log bool
	// Master: settings only the master uses differ: the admin address,
	// the control socket, the pid file, the shutdown timeout, the
	// [cluster] section (its Redis client and lease manager start anew).
	// The master applies them itself.
	Master bool
	// ACME: the [acme] section differs. The master starts its ACME client
	// anew, and a new generation of workers reads certificates from the
	// new storage.
	ACME bool
	// Cache: the size of some tenant's cache memory differs (Config.CacheSizes:
	// a host's cache.max_size, a tenant's cache_quota, a cached host or
	// tenant added or removed). The cache memory is laid out per
	// generation, so this needs a new one, which starts with an empty
	// cache; a change of cache.ttl alone is pushed in place.
	Cache bool
}

// NewGeneration reports whether the change needs a new generation of
// workers rather than a push in place.
func (c Change) NewGeneration() bool { return c.Listeners || c.Workers || c.Log || c.ACME || c.Cache }

// Any reports whether anything changed.
func (c Change) Any() bool {
	return c.Listeners || c.Workers || c.Hosts || c.Log || c.Master || c.ACME || c.Cache
}

// Diff compares the config in use with a newly loaded one. It compares
// the configs only: a certificate renewed under the same file name is not
// a change here, so the supervisor re-reads TLS files on every reload.
// Order matters: the same hosts in another order count as a change.
func Diff(old, new *Config) Change {
	o, n := old.Supervisor, new.Supervisor
	return Change{
		Listeners: !reflect.DeepEqual(old.Servers, new.Servers),
		Workers:   o.Workers != n.Workers || o.User != n.User || o.Group != n.Group,
		Hosts:     !reflect.DeepEqual(old.Hosts, new.Hosts) || !reflect.DeepEqual(old.Tenants, new.Tenants),
		Log:       old.Log != new.Log,
		ACME:      !reflect.DeepEqual(old.ACME, new.ACME),
		Cache:     !reflect.DeepEqual(old.CacheSizes(), new.CacheSizes()),
		Master: !reflect.DeepEqual(old.Admin, new.Admin) || old.Cluster != new.Cluster || o.ControlSocket != n.ControlSocket ||
			o.PIDFile != n.PIDFile || o.ShutdownTimeout != n.ShutdownTimeout ||
			o.StopSignalGraceful != n.StopSignalGraceful || o.StopSignalGracefulSet != n.StopSignalGracefulSet,
	}
}
