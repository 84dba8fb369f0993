package worker

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
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
// client that also implements KeyedLimiter (NewLocalKeyedLimiter).
func NewLocalLimiter(cfg RateLimitConfig) Limiter {
	if cfg.Key != "" {
		return NewLocalKeyedLimiter(cfg).(Limiter)
	}
	interval, tolerance := GCRAParams(cfg)
	return &localLimiter{base: time.Now(), interval: interval, tolerance: tolerance}
}

type localLimiter struct {
	tat                 atomic.Int64
	base                time.Time
	interval, tolerance int64
}

func (l *localLimiter) Allow(now time.Time) (bool, time.Duration) {
	// A request timed before the limiter existed (read just before a reload
	// made this one) counts as arriving at its creation: GCRAAllow needs a
	// positive now, and a negative one refused a fresh bucket's first request.
	return GCRAAllow(&l.tat, max(int64(now.Sub(l.base)), 1), l.interval, l.tolerance)
}

// GCRAParams returns the emission interval and the tolerance, in
// nanoseconds, of the generic cell rate algorithm for cfg: a request every
// interval on average, and up to max(BurstSize, 1) at once.
//
// Both are capped so that burst·interval, and a clock reading plus both,
// stay far from int64's end (gcraSpan): a limit of one request a year with
// a burst of two billion would otherwise wrap around and refuse, or admit,
// everything. Capped, such a limit admits its burst and then nothing for
// about seventy years.
func GCRAParams(cfg RateLimitConfig) (interval, tolerance int64) {
	burst := int64(max(cfg.BurstSize, 1))
	longest := gcraSpan / (burst + 1)
	rate := cfg.RequestsPerSecond
	if rate <= 0 {
		return longest, 0
	}
	// In float64 first: a tiny rate's interval does not fit an int64.
	interval = int64(min(math.Ceil(float64(time.Second)/rate), float64(longest)))
	interval = max(interval, 1)
	return interval, burst * interval
}

// gcraSpan bounds burst·interval in GCRAParams: a quarter of int64, so that
// a theoretical arrival time (now plus at most tolerance plus interval)
// never overflows for any now within the next seventy years of a limiter's
// clock.
const gcraSpan = math.MaxInt64 / 4

// GCRAAllow is the generic cell rate algorithm on one int64, the
// theoretical arrival time of the next request: a request at now passes if
// the bucket, advanced by one interval, stays within the tolerance. Over
// any T seconds it admits at most burst + rate·T requests. now must be
// positive and come from one monotonic clock for every caller of tat; tat
// may live in shared memory.
func GCRAAllow(tat *atomic.Int64, now, interval, tolerance int64) (bool, time.Duration) {
	for {
		old := tat.Load()
		next := max(old, now) + interval
		if over := next - now - tolerance; over > 0 {
			return false, time.Duration(over)
		}
		if tat.CompareAndSwap(old, next) {
			return true, 0
		}
	}
}

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
