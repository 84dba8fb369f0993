package supervisor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rockstar-dev/rockstar/supervisor/cluster"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// The master's part of cluster-scoped limits (package supervisor/cluster):
// with [cluster] redis set, a lease manager puts tokens leased from Redis
// into the buckets of the limits whose Placement is wire.PlacementCluster,
// and this file tells it which buckets those are whenever the live
// assignments change.

// clusterLimits is the master's Redis client and lease manager.
type clusterLimits struct {
	conf   config.Cluster
	client *redis.Client
	leases *cluster.Manager
}

// startCluster makes the lease manager for cfg's [cluster] section; nil
// without Redis (or without shared memory, where limits are per worker).
func (m *Master) startCluster(cfg *config.Config) (*clusterLimits, error) {
	if !cfg.Cluster.Enabled() || m.shared == nil {
		return nil, nil
	}
	client, err := cluster.NewRedis(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	c := &clusterLimits{conf: cfg.Cluster, client: client,
		leases: cluster.NewManager(cluster.NewRedisStore(client), cluster.OptionsFor(cfg.Cluster, m.log))}
	c.leases.Start()
	return c, nil
}

// close stops the lease manager, giving back the tokens it holds, and
// closes the client; the workers must be gone.
func (c *clusterLimits) close() {
	if c == nil {
		return
	}
	c.leases.Close()
	_ = c.client.Close()
}

// clusterManager returns the cluster limits in use, or nil.
func (m *Master) clusterManager() *clusterLimits {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cluster
}

// reconfigureCluster applies a changed [cluster] section: a new client
// and lease manager (the old one gives its tokens back first), then the
// live cluster limits handed to it.
func (m *Master) reconfigureCluster(cfg *config.Config) error {
	m.mu.Lock()
	old := m.cluster
	same := (old == nil && !cfg.Cluster.Enabled()) || (old != nil && old.conf == cfg.Cluster)
	m.mu.Unlock()
	if same {
		return nil
	}
	next, err := m.startCluster(cfg)
	if err != nil {
		return fmt.Errorf("supervisor: cluster: %w", err)
	}
	m.mu.Lock()
	m.cluster = next
	m.mu.Unlock()
	old.close() // the workers get 429 from its buckets until next leases
	m.syncCluster()
	return nil
}

// syncCluster hands the lease manager the cluster limits that some
// running worker may use: those of every live generation's assignments,
// and extra (an assignment about to be sent).
func (m *Master) syncCluster(extra ...[]wire.LimitSlot) {
	c := m.clusterManager()
	if c == nil {
		return
	}
	m.mu.Lock()
	gens := append([]*generation{m.cur}, m.draining...)
	m.mu.Unlock()
	sets := extra
	for _, g := range gens {
		if g == nil {
			continue
		}
		g.mu.Lock()
		sets = append(sets, g.limitSets...)
		g.mu.Unlock()
	}
	seen := map[wire.LimitID]bool{}
	var ls []cluster.Limit
	for _, set := range sets {
		for _, sl := range set {
			if !wire.IsCluster(sl.Limit.Placement) || sl.Bucket < 0 || seen[sl.ID()] {
				continue
			}
			seen[sl.ID()] = true
			ls = append(ls, cluster.Limit{
				ID:    fmt.Sprintf("%s\x00%s\x00%d\x00%v", sl.Scope, sl.Name, sl.Bucket, sl.Limit),
				Scope: sl.Scope, Name: sl.Name,
				Rate: sl.Limit.RequestsPerSecond, Burst: sl.Limit.BurstSize,
				Deny:   wire.ClusterDeny(sl.Limit.Placement),
				Bucket: wire.ClusterBucketAt(m.shared.r.Int64, &m.shared.lay, sl.Bucket),
			})
		}
	}
	c.leases.Set(ls)
}

var (
	descClusterUp = prometheus.NewDesc("rockstar_cluster_redis_up",
		"1 if the last round trip of the cluster limits' leases reached Redis, else 0.", nil, nil)
	descClusterFallbacks = prometheus.NewDesc("rockstar_cluster_fallbacks_total",
		"Times a cluster-scoped limit fell back to its on_cluster_failure policy because Redis was unreachable.", nil, nil)
	descClusterFallback = prometheus.NewDesc("rockstar_cluster_limits_fallback",
		"Cluster-scoped limits in their on_cluster_failure policy now.", nil, nil)
	descClusterLimits = prometheus.NewDesc("rockstar_cluster_limits",
		"Cluster-scoped limits this machine leases from Redis.", nil, nil)
	descClusterTrips = prometheus.NewDesc("rockstar_cluster_redis_round_trips_total",
		"Round trips to Redis for the cluster limits' leases, by result.", []string{"result"}, nil)
)

// collectCluster emits the cluster limits' series, when there are any.
func (m *Master) collectCluster(ch chan<- prometheus.Metric) {
	c := m.clusterManager()
	if c == nil {
		return
	}
	st := c.leases.Stats()
	up := 0.0
	if st.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descClusterUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descClusterFallbacks, prometheus.CounterValue, float64(st.Fallbacks))
	ch <- prometheus.MustNewConstMetric(descClusterFallback, prometheus.GaugeValue, float64(st.Fallback))
	ch <- prometheus.MustNewConstMetric(descClusterLimits, prometheus.GaugeValue, float64(st.Limits))
	ch <- prometheus.MustNewConstMetric(descClusterTrips, prometheus.CounterValue, float64(st.RoundTrips-st.Failures), "ok")
	ch <- prometheus.MustNewConstMetric(descClusterTrips, prometheus.CounterValue, float64(st.Failures), "error")
}

// pauseCluster stops (or resumes) the leases: a binary upgrade hands the
// buckets to the new master, which leases them from then on.
func (m *Master) pauseCluster(p bool) {
	if c := m.clusterManager(); c != nil {
		c.leases.Pause(p)
	}
}
