package child

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/cache"
)

// cacheSet is a worker's response caches: one cache.Cache per cached
// host, over its tenant's store in the region the master shares
// (wire.FDCache), so that every worker of the machine serves what any of
// them stored. Without a region (a program using Hosts on its own) each
// tenant's store is memory of this process. A host keeps its Cache, and
// so its fetches in flight, across pushes that leave its tenant and ttl.
type cacheSet struct {
	log    zerolog.Logger
	mu     sync.Mutex
	region *shm.Region
	stores map[string]*cache.Store // by tenant
	local  map[string]int64        // sizes of the process-local stores
	byHost map[string]*cache.Cache
	// retired are caches replaced or dropped by a push: they start no
	// more revalidations, and close waits for those in flight.
	retired []*cache.Cache
}

// open maps the region inherited at fd, laid out as the environment says.
func (s *cacheSet) open(fd int) error {
	var lay wire.CacheLayout
	if err := json.Unmarshal([]byte(os.Getenv(wire.EnvCache)), &lay); err != nil {
		return fmt.Errorf("child: %s: %w", wire.EnvCache, err)
	}
	r, err := shm.Open(uintptr(fd))
	if err != nil {
		return fmt.Errorf("child: response cache memory: %w", err)
	}
	stores := make(map[string]*cache.Store, len(lay.Stores))
	for _, sl := range lay.Stores {
		if sl.Off < 0 || sl.Size <= 0 || sl.Off+sl.Size > r.Size() {
			r.Close()
			return fmt.Errorf("child: response cache of tenant %q: %w", sl.Tenant, wire.ErrBadShared)
		}
		st, err := cache.NewStore(r.Bytes(sl.Off, sl.Size), shm.OwnerID(), shm.Alive)
		if err != nil {
			r.Close()
			return fmt.Errorf("child: response cache of tenant %q: %w", sl.Tenant, err)
		}
		stores[sl.Tenant] = st
	}
	s.mu.Lock()
	s.region, s.stores = r, stores
	s.mu.Unlock()
	return nil
}

// storeLocked returns tenant's store: the shared one, or, without a
// region, one of this process sized as cfg says.
func (s *cacheSet) storeLocked(cfg *config.Config, tenant string) *cache.Store {
	if s.stores == nil {
		s.stores = make(map[string]*cache.Store)
	}
	if s.region != nil {
		return s.stores[tenant]
	}
	size := max(cfg.CacheSizes()[tenant], cache.MinStoreSize)
	if st := s.stores[tenant]; st != nil && s.local[tenant] == size {
		return st
	}
	mem := make([]uint64, size/8)
	st, err := cache.NewStore(unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8), 1, nil)
	if err != nil {
		return nil
	}
	if s.local == nil {
		s.local = make(map[string]int64)
	}
	s.stores[tenant], s.local[tenant] = st, size
	return st
}

// attach puts h's cache in front of hc's handler (its respond answer or
// its proxy, already in hc.Middleware), when h has one.
func (s *cacheSet) attach(cfg *config.Config, hc *worker.HostConfig, h *config.Host) {
	if h.Cache == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.storeLocked(cfg, h.Tenant)
	if st == nil {
		// A host added by the runtime API to a tenant that had no cache
		// when the generation started: the next one has its memory.
		s.log.Warn().Str("host", h.Hostname).Str("tenant", h.Tenant).
			Msg("no response cache memory for the host's tenant in this generation; serving it uncached")
		return
	}
	if s.byHost == nil {
		s.byHost = make(map[string]*cache.Cache)
	}
	c := s.byHost[h.Hostname]
	if c == nil || c.Store() != st || c.Config().Tenant != h.Tenant || c.Config().TTL != h.Cache.TTL {
		if c != nil {
			c.Retire()
			s.retired = append(s.retired, c)
		}
		c = cache.New(st, cache.Config{Tenant: h.Tenant, TTL: h.Cache.TTL})
		s.byHost[h.Hostname] = c
	}
	hc.Middleware = append([]worker.MiddlewareFunc{worker.MiddlewareFunc(c.Middleware)}, hc.Middleware...)
	if !hc.Inline {
		hc.InlineAnswer = c.Answer // hits of a proxy host on the event loop
	}
}

// sweep drops the caches of hosts cfg no longer caches.
func (s *cacheSet) sweep(cfg *config.Config) {
	keep := make(map[string]bool)
	for _, h := range cfg.Hosts {
		if h.Cache != nil {
			keep[h.Hostname] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for host, c := range s.byHost {
		if !keep[host] {
			delete(s.byHost, host)
			c.Retire()
			s.retired = append(s.retired, c)
		}
	}
}

// close waits for every cache's background revalidations; the worker
// has stopped serving.
func (s *cacheSet) close() {
	s.mu.Lock()
	caches := s.retired
	for _, c := range s.byHost {
		caches = append(caches, c)
	}
	s.byHost, s.retired = nil, nil
	s.mu.Unlock()
	for _, c := range caches {
		c.Close()
	}
}
