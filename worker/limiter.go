package worker

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/rockstar-dev/rockstar/netutil/shm"
)

// Limiter decides whether one more request may pass now. Implementations
// must be safe for concurrent use and should not allocate.
type Limiter interface {
	// Allow reports whether a request arriving at now may pass; if not,
	// retryAfter says how long until one would.
	Allow(now time.Time) (ok bool, retryAfter time.Duration)
}

// LimiterKey names the bucket a limiter guards.
type LimiterKey struct {
	// Scope is "host" or "tenant".
	Scope string
	// Name is the canonical host name or the tenant ID.
	Name string
}

// Limiter scopes.
const (
	ScopeHost   = "host"
	ScopeTenant = "tenant"
)

// LimiterFactory makes the limiter for one bucket. The manager calls it when
// a host or tenant with an enabled limit appears or its limit changes, and
// keeps the limiter while the limit stays the same. The supervisor swaps in
// a factory whose buckets live in memory shared by all workers.
type LimiterFactory func(key LimiterKey, cfg RateLimitConfig) Limiter

// NewLocalLimiter returns an in-process GCRA limiter for cfg: one int64
// updated by compare-and-swap, or for a cfg with a Key, a table of them by
// client that also implements KeyedLimiter (NewLocalKeyedLimiter). It is
// NewLimiterOn over memory of its own, on a clock that starts with it.
func NewLocalLimiter(cfg RateLimitConfig) Limiter {
	if cfg.Key != "" {
		return NewLocalKeyedLimiter(cfg).(Limiter)
	}
	return NewLimiterOn(cfg, LimiterMemory{Bucket: new(atomic.Int64), Since: time.Now()})
}

// LimiterMemory is where a limiter from NewLimiterOn keeps its state:
// memory its caller owns, in this process (NewLocalLimiter,
// NewLocalKeyedLimiter) or in a region that several processes map (the
// supervisor's workers), which then share the limit exactly. The state is
// plain words, without Go pointers.
type LimiterMemory struct {
	// Bucket is a plain limit's bucket (a RateLimitConfig without a Key):
	// the theoretical arrival time of its next request, 0 at first.
	Bucket *atomic.Int64
	// Table is a per-client limit's table (a RateLimitConfig with a Key):
	// shm.TableWords(n) words for n clients, all 0 the first time any
	// process uses them.
	Table []uint64
	// Seed keys the hash of client keys in Table, so that nobody can pick
	// keys that crowd one set; every process sharing Table passes the same.
	Seed uint64
	// Owner is this process's id in Table's locks (shm.OwnerID); 0 in one
	// process.
	Owner uint64
	// Alive says whether the owner of a lock in Table still runs
	// (shm.Alive), so that a lock that a killed process held is taken
	// over; nil in one process.
	Alive func(uint64) bool
	// Since, if set, starts the limiter's clock: a request counts at its
	// time since Since, one timed before it as at Since, and only this
	// process can read the state. Zero: the state is kept on
	// CLOCK_MONOTONIC (shm.Mono), which every process on the machine reads
	// alike.
	Since time.Time
}

// NewLimiterOn returns the GCRA limiter for cfg over mem. With a
// mem.Table (what a cfg with a Key wants), it is a table of buckets by
// client (an shm.Table, which evicts the least recently seen client of a
// full set), as a Limiter that also implements KeyedLimiter, with one
// bucket for the empty key; else it is the one bucket in mem.Bucket, and
// it panics if there is none. Every limiter on the same memory must have
// the same cfg. Its Allow and AllowKey do not allocate.
func NewLimiterOn(cfg RateLimitConfig, mem LimiterMemory) Limiter {
	g, clock := gcraParams(cfg), limiterClock{base: mem.Since}
	if mem.Table != nil {
		return &keyedLimiter{clock: clock, t: shm.NewTable(mem.Table, shm.TableConfig{
			Seed: mem.Seed, Interval: g.Interval, Tolerance: g.Tolerance, Owner: mem.Owner, Alive: mem.Alive,
		})}
	}
	if mem.Bucket == nil {
		panic("worker: NewLimiterOn: no memory for the limiter")
	}
	return &bucketLimiter{tat: mem.Bucket, gcra: g, clock: clock}
}

// bucketLimiter is a plain limit: one bucket.
type bucketLimiter struct {
	tat   *atomic.Int64
	gcra  shm.GCRA
	clock limiterClock
}

func (l *bucketLimiter) Allow(now time.Time) (bool, time.Duration) {
	ok, wait := l.gcra.Allow(l.tat, l.clock.at(now))
	return ok, time.Duration(wait)
}

// limiterClock reads a request's time as a limiter's state keeps it, in
// positive nanoseconds (as GCRA needs): since base, or with a zero base on
// CLOCK_MONOTONIC.
type limiterClock struct{ base time.Time }

func (c limiterClock) at(t time.Time) int64 {
	if c.base.IsZero() {
		return shm.Mono(t)
	}
	// A request timed before the limiter existed (read just before a reload
	// made this one) counts as arriving at its creation: a negative now
	// refused a fresh bucket's first request.
	return max(int64(t.Sub(c.base)), 1)
}

// gcraParams returns the GCRA emission interval and tolerance, in
// nanoseconds, for cfg: a request every interval on average, and up to
// max(BurstSize, 1) at once.
//
// Both are capped so that burst·interval, and a clock reading plus both,
// stay far from int64's end (gcraSpan): a limit of one request a year with
// a burst of two billion would otherwise wrap around and refuse, or admit,
// everything. Capped, such a limit admits its burst and then nothing for
// about seventy years.
func gcraParams(cfg RateLimitConfig) shm.GCRA {
	burst := int64(max(cfg.BurstSize, 1))
	longest := gcraSpan / (burst + 1)
	rate := cfg.RequestsPerSecond
	if rate <= 0 {
		return shm.GCRA{Interval: longest}
	}
	// In float64 first: a tiny rate's interval does not fit an int64.
	interval := int64(min(math.Ceil(float64(time.Second)/rate), float64(longest)))
	interval = max(interval, 1)
	return shm.GCRA{Interval: interval, Tolerance: burst * interval}
}

// gcraSpan bounds burst·interval in gcraParams: a quarter of int64, so that
// a theoretical arrival time (now plus at most tolerance plus interval)
// never overflows for any now within the next seventy years of a limiter's
// clock.
const gcraSpan = math.MaxInt64 / 4

func validateRateLimit(what string, c *RateLimitConfig) error {
	if !c.active() {
		return nil
	}
	if c.RequestsPerSecond <= 0 || math.IsNaN(c.RequestsPerSecond) || math.IsInf(c.RequestsPerSecond, 0) || c.BurstSize < 0 {
		return fmt.Errorf("%w for %s: requests_per_second %v, burst %d", ErrInvalidRateLimit, what, c.RequestsPerSecond, c.BurstSize)
	}
	if (c.Key != "" && c.Key != KeyClientIP) || c.Size < 0 || c.Size > MaxClientTableSize {
		return fmt.Errorf("%w for %s: key %q, size %d", ErrInvalidRateLimit, what, c.Key, c.Size)
	}
	if p := c.IPv6Prefix; p != 0 && (p < MinIPv6Prefix || p > 128 || p%8 != 0) {
		return fmt.Errorf("%w for %s: ipv6 prefix %d is not a multiple of 8 from %d to 128", ErrInvalidRateLimit, what, p, MinIPv6Prefix)
	}
	return nil
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, for the
// Retry-After header.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
