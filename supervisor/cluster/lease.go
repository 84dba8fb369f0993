package cluster

import (
	"math"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// Limit is one cluster-scoped limit of this machine, as the master hands
// it to a Manager.
type Limit struct {
	// ID stays the same while the limit keeps its bucket (its scope,
	// name, settings and bucket); a Set with a new ID is a new limit.
	ID string
	// Scope and Name are the host or tenant ("host", "app.example.com"):
	// for logs, and the Redis key (LimitKey).
	Scope, Name string
	// Rate and Burst are the whole cluster's limit: Rate requests a
	// second on average, max(Burst, 1) at once.
	Rate  float64
	Burst int
	// Deny is on_cluster_failure = "deny": with Redis away, admit nothing
	// rather than the machine's share.
	Deny bool
	// Bucket is the limit's words in the memory this machine's workers
	// share.
	Bucket wire.ClusterBucket
}

// gcra returns the limit's emission interval and tolerance, as the
// workers' shm.GCRA takes them (worker.gcraParams, without its caps for
// absurd limits, which the config's range of rates never reaches).
func (l Limit) gcra() (interval, tolerance time.Duration) {
	interval = time.Duration(max(math.Ceil(float64(time.Second)/l.Rate), 1))
	return interval, time.Duration(max(l.Burst, 1)) * interval
}

// LeaseSize is how many tokens a busy machine holds of a limit of rate
// requests a second with leases of window: rate × window, at least 1.
func LeaseSize(rate float64, window time.Duration) int64 {
	return max(int64(math.Ceil(rate*window.Seconds())), 1)
}

// ReserveSize is how many tokens an idle machine keeps of a lease of
// lease tokens, so that its next request passes at once: a quarter of
// the lease, at least 1.
func ReserveSize(lease int64) int64 { return max((lease+3)/4, 1) }

// leased is a Manager's state of one limit.
type leased struct {
	Limit
	key                 string
	interval, tolerance time.Duration
	lease, reserve      int64
	// prev and prevWanted are the words as the last round left them: a
	// lower Tokens or a higher Wanted since is demand.
	prev, prevWanted int64
	activeAt         time.Time // the last round that saw demand
	retryAt          time.Time // Redis had no more tokens before then
	failed           bool      // Redis is away: the fallback mode is on
	gone             bool      // no longer in the config
}

func newLeased(l Limit, window time.Duration, now time.Time) *leased {
	s := &leased{Limit: l, key: LimitKey(l.Scope, l.Name), lease: LeaseSize(l.Rate, window)}
	s.interval, s.tolerance = l.gcra()
	s.reserve = ReserveSize(s.lease)
	s.prev = l.Bucket.Tokens.Load() // an adopted bucket (binary upgrade) may hold some
	s.prevWanted = l.Bucket.Wanted.Load()
	s.activeAt = now.Add(-window) // idle: it asks for its reserve first
	return s
}

// plan decides this round's op for s, if any: with Redis up, take tokens
// when fewer than half the target are left (the whole lease while the
// machine spends them, the reserve once it has been idle for idle), and
// give back what an idle machine holds over its reserve; with Redis away,
// probe is set and it asks for its target, which brings the limit back to
// its lease when Redis answers.
func (s *leased) plan(now time.Time, idle time.Duration, probe bool) (Op, bool) {
	b := s.Bucket
	c, w := b.Tokens.Load(), b.Wanted.Load()
	if c < s.prev || w != s.prevWanted {
		s.activeAt = now
	}
	s.prev, s.prevWanted = c, w
	target := s.lease
	isIdle := now.Sub(s.activeAt) >= idle
	if isIdle {
		target = s.reserve
	}
	op := Op{Key: s.key, Interval: s.interval, Tolerance: s.tolerance}
	if probe {
		op.Take = target
		return op, true
	}
	if 2*c < target && !now.Before(s.retryAt) {
		op.Take = target - c
	}
	// Give back what an idle machine holds over its reserve: take it out
	// of the workers' reach first, so no token is both spent and returned.
	if isIdle && c > s.reserve && b.Tokens.CompareAndSwap(c, s.reserve) {
		op.Return = c - s.reserve
		s.prev = s.reserve
	}
	return op, op.Take > 0 || op.Return > 0
}

// credit adds what Redis granted to the bucket.
func (s *leased) credit(g Grant, asked int64, now time.Time) {
	if g.Tokens > 0 {
		s.prev = s.Bucket.Tokens.Add(g.Tokens)
	}
	switch {
	case asked == 0: // a heartbeat or a give-back: nothing learnt
	case g.Tokens < asked:
		s.retryAt = now.Add(g.Wait)
	default:
		s.retryAt = time.Time{}
	}
}
