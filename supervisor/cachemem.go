package supervisor

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker/cache"
)

// The response cache's memory, the master's side: a generation whose
// config has cached hosts gets a region with one cache.Store per tenant
// (wire.CacheLayout), sized by config.Config.CacheSizes, that its workers
// map. A new generation with the same sizes shares the region, so its
// entries survive the reload; a region no generation uses is unmapped.
// The master maps it too: it applies purges (cachepurge.go) and reads the
// stores' counters for /metrics. A binary upgrade starts with an empty
// cache.

// cacheMem is one cache region.
type cacheMem struct {
	r      *shm.Region
	sizes  map[string]int64
	layout wire.CacheLayout
	env    string // wire.EnvCache=...
	stores map[string]*cache.Store
	users  int // generations using it, under cacheSet.mu
}

// cacheSet is the master's cache regions.
type cacheSet struct {
	mu   sync.Mutex
	mems []*cacheMem
}

// newCacheMem creates the region for sizes (by tenant).
func newCacheMem(sizes map[string]int64) (*cacheMem, error) {
	c := &cacheMem{sizes: sizes, stores: make(map[string]*cache.Store)}
	off := 0
	for _, t := range slices.Sorted(maps.Keys(sizes)) {
		n := shm.AlignUp(int(max(sizes[t], cache.MinStoreSize)))
		c.layout.Stores = append(c.layout.Stores, wire.CacheSlot{Tenant: t, Off: off, Size: n})
		off += n
	}
	r, err := shm.Create("rockstar-cache", off)
	if err != nil {
		return nil, fmt.Errorf("supervisor: response cache memory: %w", err)
	}
	c.r = r
	for _, sl := range c.layout.Stores {
		st, err := cache.NewStore(r.Bytes(sl.Off, sl.Size), shm.OwnerID(), shm.Alive)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("supervisor: response cache of tenant %q: %w", sl.Tenant, err)
		}
		c.stores[sl.Tenant] = st
	}
	b, _ := json.Marshal(c.layout)
	c.env = wire.EnvCache + "=" + string(b)
	return c, nil
}

// acquire returns the region for cfg's cache sizes, shared with a
// generation that has the same, or nil when cfg caches nothing.
func (s *cacheSet) acquire(cfg *config.Config) (*cacheMem, error) {
	sizes := cfg.CacheSizes()
	if len(sizes) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.mems {
		if maps.Equal(c.sizes, sizes) {
			c.users++
			return c, nil
		}
	}
	c, err := newCacheMem(sizes)
	if err != nil {
		return nil, err
	}
	c.users = 1
	s.mems = append(s.mems, c)
	return c, nil
}

// release drops a generation's use of c; once every worker of it is gone.
func (s *cacheSet) release(c *cacheMem) {
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.users--; c.users > 0 {
		return
	}
	s.mems = slices.DeleteFunc(s.mems, func(x *cacheMem) bool { return x == c })
	c.r.Close()
}

// closeAll unmaps every region; every worker must be gone.
func (s *cacheSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.mems {
		c.r.Close()
	}
	s.mems = nil
}

// purge applies fn to the store of tenant in every region and returns how
// many entries it removed in all.
func (s *cacheSet) purge(tenant string, match func(key, tags []byte) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.mems {
		if st := c.stores[tenant]; st != nil {
			n += st.Purge(match)
		}
	}
	return n
}

// stats returns each tenant's counters, added up over the regions.
func (s *cacheSet) stats() map[string]cache.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]cache.Stats)
	for _, c := range s.mems {
		for t, st := range c.stores {
			a, b := out[t], st.Stats()
			a.Hits += b.Hits
			a.Misses += b.Misses
			a.Stores += b.Stores
			a.Evictions += b.Evictions
			a.Purged += b.Purged
			a.Bytes += b.Bytes
			a.Entries += b.Entries
			a.Size += b.Size
			out[t] = a
		}
	}
	return out
}

// shareCache adds g's cache region, if it has one, to a worker's files,
// and its layout to the worker's environment.
func (g *generation) shareCache(files []*os.File, specs []netutil.FDSpec, env []string) ([]*os.File, []netutil.FDSpec, []string) {
	if g.cache == nil {
		return files, specs, env
	}
	files = append(files, g.cache.r.File())
	specs = append(specs, netutil.FDSpec{Kind: string(wire.FDCache), FD: 2 + len(files)})
	return files, specs, append(env, g.cache.env)
}
