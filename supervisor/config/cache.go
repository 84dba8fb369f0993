package config

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultCacheTTL is a host's cache.ttl default: how long a response that
// says nothing of its freshness (no Cache-Control max-age or s-maxage, no
// Expires) is kept.
const DefaultCacheTTL = 60 * time.Second

// DefaultCacheMaxSize is a host's cache.max_size default: 64 MiB.
const DefaultCacheMaxSize = 64 << 20

// MinCacheSize is the least a cache.max_size or cache_quota may be: 64 KiB.
const MinCacheSize = 64 << 10

// MaxCacheSize is the most a cache.max_size or cache_quota may be: 64 GiB.
const MaxCacheSize = 64 << 30

// Cache is a host's cache table: its proxied or generated GET and HEAD
// answers are kept in memory all the workers of the machine share, as
// nginx's proxy_cache, and served from there while fresh.
type Cache struct {
	// TTL (ttl) is the freshness of a response that does not say its own.
	// Default DefaultCacheTTL.
	TTL time.Duration
	// MaxSize (max_size) is what the host adds to its tenant's cache
	// memory, in bytes, written with a unit: "256MB", "1GiB", "512KB"
	// (KB, MB, GB are powers of 1024 here, as in nginx). Default
	// DefaultCacheMaxSize. A tenant's cache_quota, when set, replaces the
	// sum of its hosts' max_size.
	MaxSize int64
}

// CacheSizes returns the size of each tenant's cache memory in c, by
// tenant ID ("" for the hosts of no tenant): the tenant's CacheQuota, or
// the sum of its cached hosts' MaxSize. A tenant with no cached host has
// none.
func (c *Config) CacheSizes() map[string]int64 {
	out := make(map[string]int64)
	for _, h := range c.Hosts {
		if h.Cache != nil {
			out[h.Tenant] = min(out[h.Tenant]+h.Cache.MaxSize, MaxCacheSize)
		}
	}
	for _, t := range c.Tenants {
		if _, ok := out[t.ID]; ok && t.CacheQuota > 0 {
			out[t.ID] = t.CacheQuota
		}
	}
	return out
}

func (d *decoder) cache(t *table) *Cache {
	c := &Cache{TTL: DefaultCacheTTL, MaxSize: DefaultCacheMaxSize}
	if v, ok := t.duration("ttl"); ok {
		c.TTL = v
	}
	if v, ok := t.byteSize("max_size", MinCacheSize, MaxCacheSize); ok {
		c.MaxSize = v
	}
	t.finish()
	return c
}

// byteSize returns a size written as a string with a unit ("256MB", "1GiB",
// "64KB", "100B"; KB, MB and GB are powers of 1024) or as an integer of
// bytes, within [lo, hi].
func (t *table) byteSize(key string, lo, hi int64) (int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int64:
		return x, checkRange(t, key, x, lo, hi)
	case string:
		n, ok := parseByteSize(x)
		if !ok {
			t.errorf(key, ErrInvalid, "%q is not a size like \"256MB\" or \"1GB\"", x)
			return 0, false
		}
		return n, checkRange(t, key, n, lo, hi)
	}
	t.errorf(key, ErrType, "must be a size string like \"256MB\", not %s", typeName(v))
	return 0, false
}

// parseByteSize reads "256MB", "1.5GiB", "64k", "100" (bytes).
func parseByteSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.ToUpper(strings.TrimSpace(s[i:]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "IB"), "B")
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	if mult == 0 || num == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f*mult, 0) || f*mult > math.MaxInt64/2 {
		return 0, false
	}
	return int64(f * mult), true
}
