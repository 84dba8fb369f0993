package supervisor

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/cache"
)

// The runtime API's cache route: DELETE /v1/cache/TENANT purges that
// tenant's entries on this machine and, with [cluster] redis, on every
// other (cachepurge.go). Query parameters narrow it: prefix (a path
// prefix, "/blog/"), host (one host of the tenant), tag (a Surrogate-Key or
// Cache-Tag the response carried). The tenant of the hosts that have none
// is NoTenant. The answer is a CachePurgeResult.

// NoTenant names, in /v1/cache/NoTenant, the cache of hosts of no tenant:
// "@none", which no tenant ID can be.
const NoTenant = "@none"

// ErrNoCache: a purge names a tenant that has no cached host.
var ErrNoCache = errors.New("supervisor: the tenant has no response cache")

// CachePurgeResult is the answer of a purge.
type CachePurgeResult struct {
	CachePurge
	// Purged is how many entries were removed on this machine.
	Purged int `json:"purged"`
	// Cluster is "published" when the purge goes to the other machines
	// through Redis (it is queued while Redis is away), "" without
	// [cluster] redis.
	Cluster string `json:"cluster,omitempty"`
}

// CachePurger is an APIBackend that can purge response caches; the
// /v1/cache route answers 404 for a backend that is not one.
type CachePurger interface {
	PurgeCache(p CachePurge) (CachePurgeResult, error)
}

// PurgeCache removes p's entries from this machine's caches and publishes
// p for the other machines.
func (m *Master) PurgeCache(p CachePurge) (CachePurgeResult, error) {
	if _, ok := m.currentConfig().CacheSizes()[p.Tenant]; !ok {
		return CachePurgeResult{}, ErrNoCache
	}
	res := CachePurgeResult{CachePurge: p, Purged: m.applyPurge(p)}
	m.mu.Lock()
	bus := m.purges
	m.mu.Unlock()
	if bus != nil {
		bus.publish(p)
		res.Cluster = "published"
	}
	m.log.Info().Str("tenant", p.Tenant).Str("host", p.Host).Str("prefix", p.Prefix).Str("tag", p.Tag).
		Int("purged", res.Purged).Msg("cache purge")
	return res, nil
}

// applyPurge removes p's entries from every cache region of this machine.
func (m *Master) applyPurge(p CachePurge) int {
	return m.caches.purge(p.Tenant, cache.Match(p.Tenant, p.Host, p.Prefix, p.Tag))
}

func (b masterAPI) PurgeCache(p CachePurge) (CachePurgeResult, error) { return b.m.PurgeCache(p) }

// serveCache answers /v1/cache/TENANT.
func (s *APIServer) serveCache(req APIRequest, tenant string) APIResponse {
	purger, ok := s.Backend.(CachePurger)
	if !ok || tenant == "" || strings.Contains(tenant, "/") {
		return apiFail(http.StatusNotFound, "supervisor: no such API path %q", req.Path)
	}
	if req.Method != http.MethodDelete {
		return apiFail(http.StatusMethodNotAllowed, "supervisor: %s %s: only DELETE", req.Method, req.Path)
	}
	q, err := url.ParseQuery(req.Query)
	if err != nil {
		return apiFail(http.StatusBadRequest, "supervisor: query: %v", err)
	}
	for k := range q {
		if k != "prefix" && k != "host" && k != "tag" {
			return apiFail(http.StatusBadRequest, "supervisor: unknown query parameter %q: want prefix, host or tag", k)
		}
	}
	p := CachePurge{Tenant: tenant, Prefix: q.Get("prefix"), Tag: q.Get("tag")}
	if tenant == NoTenant {
		p.Tenant = ""
	}
	if h := q.Get("host"); h != "" {
		p.Host = worker.CanonicalHostname(h)
	}
	if p.Prefix != "" && !strings.HasPrefix(p.Prefix, "/") {
		return apiFail(http.StatusBadRequest, "supervisor: prefix must start with /")
	}
	res, err := purger.PurgeCache(p)
	if errors.Is(err, ErrNoCache) {
		return apiFail(http.StatusNotFound, "supervisor: tenant %q has no cached host", tenant)
	}
	if err != nil {
		return apiFail(http.StatusInternalServerError, "supervisor: purge: %v", err)
	}
	s.Log.Info().Str("tenant", tenant).Str("query", req.Query).Int("purged", res.Purged).Msg("runtime API: cache purged")
	return apiJSON(http.StatusOK, "", res)
}

// startPurges connects this machine's caches to the others' through c's
// Redis, replacing the link it had (a reload that changes [cluster]).
func (m *Master) startPurges(c config.Cluster) error {
	m.mu.Lock()
	old := m.purges
	m.mu.Unlock()
	if old != nil && old.cluster == c {
		return nil
	}
	bus, err := startPurgeBus(c, m.log, m.applyPurge)
	if err != nil {
		return fmt.Errorf("supervisor: cluster.redis: %w", err)
	}
	m.mu.Lock()
	m.purges = bus
	m.mu.Unlock()
	old.close()
	return nil
}

// stopPurges closes the link to Redis and waits for its goroutines.
func (m *Master) stopPurges() {
	m.mu.Lock()
	bus := m.purges
	m.purges = nil
	m.mu.Unlock()
	bus.close()
}
