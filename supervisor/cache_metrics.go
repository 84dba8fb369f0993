package supervisor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The response cache's series, by tenant ("" for hosts of no tenant), read
// from the stores' counters in the cache memory (cachemem.go): they are
// the machine's, every worker's requests together. A new cache layout (a
// reload that changes a size) starts them again from 0.
var (
	descCacheHits = prometheus.NewDesc("rockstar_cache_hits_total",
		"Requests answered from the response cache (X-Cache HIT or STALE).", []string{"tenant"}, nil)
	descCacheMisses = prometheus.NewDesc("rockstar_cache_misses_total",
		"Cacheable requests the response cache had no fresh answer for (X-Cache MISS).", []string{"tenant"}, nil)
	descCacheStores = prometheus.NewDesc("rockstar_cache_stores_total",
		"Responses stored in the response cache.", []string{"tenant"}, nil)
	descCacheEvictions = prometheus.NewDesc("rockstar_cache_evictions_total",
		"Entries evicted to make room in the tenant's cache memory.", []string{"tenant"}, nil)
	descCachePurged = prometheus.NewDesc("rockstar_cache_purged_total",
		"Entries removed by purges (the admin API, or another machine's through Redis).", []string{"tenant"}, nil)
	descCacheBytes = prometheus.NewDesc("rockstar_cache_bytes",
		"Bytes of live entries in the tenant's cache memory.", []string{"tenant"}, nil)
	descCacheEntries = prometheus.NewDesc("rockstar_cache_entries",
		"Live entries in the tenant's cache memory.", []string{"tenant"}, nil)
	descCacheQuota = prometheus.NewDesc("rockstar_cache_quota_bytes",
		"The size of the tenant's cache memory: its cache_quota, or the sum of its hosts' max_size.", []string{"tenant"}, nil)
)

// cacheCollector emits the cache series at scrape time.
type cacheCollector struct{ m *Master }

func (c cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCacheHits, descCacheMisses, descCacheStores, descCacheEvictions,
		descCachePurged, descCacheBytes, descCacheEntries, descCacheQuota} {
		ch <- d
	}
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	sizes := c.m.currentConfig().CacheSizes()
	for tenant, st := range c.m.caches.stats() {
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), tenant)
		}
		gauge := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), tenant)
		}
		counter(descCacheHits, st.Hits)
		counter(descCacheMisses, st.Misses)
		counter(descCacheStores, st.Stores)
		counter(descCacheEvictions, st.Evictions)
		counter(descCachePurged, st.Purged)
		gauge(descCacheBytes, st.Bytes)
		gauge(descCacheEntries, st.Entries)
		if q, ok := sizes[tenant]; ok {
			gauge(descCacheQuota, uint64(q))
		}
	}
}
