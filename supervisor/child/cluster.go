package child

import (
	"sync/atomic"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// clusterLimiter is a worker's side of a cluster-scoped limit
// (wire.ClusterBucket): it spends the tokens that the master leased from
// Redis into the bucket's line, or, while Redis is away, the machine's
// share (a GCRA bucket on the line's first word) or nothing, as the
// master's mode word says. It never waits for the master or Redis. Allow
// does not allocate, but for the first request in ModeLocal after the
// machine count changed.
type clusterLimiter struct {
	b   wire.ClusterBucket
	cfg worker.RateLimitConfig
	// share is the machine's share for the machine count it was made for.
	share atomic.Pointer[clusterShare]
	// wait is the Retry-After of a refusal for want of a token: one
	// emission interval of the whole limit (the caller rounds it up to a
	// second).
	wait time.Duration
}

type clusterShare struct {
	machines int64
	lim      worker.Limiter
}

func newClusterLimiter(b wire.ClusterBucket, cfg worker.RateLimitConfig) *clusterLimiter {
	wait := time.Second
	if cfg.RequestsPerSecond > 0 {
		wait = max(time.Duration(float64(time.Second)/cfg.RequestsPerSecond), time.Nanosecond)
	}
	return &clusterLimiter{b: b, cfg: cfg, wait: wait}
}

func (l *clusterLimiter) Allow(now time.Time) (bool, time.Duration) {
	switch l.b.Mode.Load() {
	case wire.ModeLease:
		for {
			n := l.b.Tokens.Load()
			if n <= 0 {
				l.b.Wanted.Add(1)
				return false, l.wait
			}
			if l.b.Tokens.CompareAndSwap(n, n-1) {
				return true, 0
			}
		}
	case wire.ModeLocal:
		return l.localShare().Allow(now)
	default:
		return false, l.wait
	}
}

// localShare is the GCRA limiter of the machine's share, on the line's
// TAT word, for the machine count the master wrote there.
func (l *clusterLimiter) localShare() worker.Limiter {
	m := max(l.b.Machines.Load(), 1)
	if s := l.share.Load(); s != nil && s.machines == m {
		return s.lim
	}
	s := &clusterShare{machines: m, lim: worker.NewLimiterOn(wire.ClusterShare(l.cfg, int(m)), worker.LimiterMemory{Bucket: l.b.TAT})}
	l.share.Store(s)
	return s.lim
}
