package worker

import (
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/netutil/shm"
)

// KeyClientIP is the RateLimitConfig.Key that gives every client IP address
// its own bucket.
const KeyClientIP = "client_ip"

// The IPv6 prefix that keys a per-client limit (RateLimitConfig.IPv6Prefix).
const (
	// DefaultIPv6Prefix is the prefix when RateLimitConfig.IPv6Prefix is 0.
	DefaultIPv6Prefix = 64
	// MinIPv6Prefix is the shortest prefix allowed: a key of 6 bytes or
	// more can never be taken for an IPv4 client's 4.
	MinIPv6Prefix = 48
)

// Sizes of a per-client limit's table.
const (
	// DefaultClientTableSize is the number of clients tracked when
	// RateLimitConfig.Size is 0.
	DefaultClientTableSize = 10000
	// MaxClientTableSize bounds RateLimitConfig.Size.
	MaxClientTableSize = 1 << 24
)

// KeyedLimiter is a limiter with one bucket per key, such as a client's IP
// address. A LimiterFactory returns one (as a Limiter that also implements
// KeyedLimiter) for a RateLimitConfig with a Key; the request path then
// calls AllowKey with the client's address: 4 bytes for IPv4; for IPv6 its
// first RateLimitConfig.IPv6Prefix bits (8 bytes by default).
// Implementations must be safe for concurrent use and should not allocate.
type KeyedLimiter interface {
	// AllowKey reports whether a request from key arriving at now may pass;
	// if not, retryAfter says how long until one would. key is only read
	// during the call.
	AllowKey(key []byte, now time.Time) (ok bool, retryAfter time.Duration)
}

// NewLocalKeyedLimiter returns an in-process per-client GCRA limiter for
// cfg: a fixed table of cfg.Size clients (DefaultClientTableSize if 0) in
// sets of 8, which, when a new client finds its set full, forgets the least
// recently seen client of that set, as nginx's limit_req_zone does. It is
// NewLimiterOn over a table in this process's memory, the one that the
// supervisor puts in memory shared by its workers. It also implements
// Limiter, with one bucket for the empty key.
func NewLocalKeyedLimiter(cfg RateLimitConfig) KeyedLimiter {
	size := cfg.Size
	if size <= 0 {
		size = DefaultClientTableSize
	}
	return NewLimiterOn(cfg, LimiterMemory{Table: make([]uint64, shm.TableWords(size)), Seed: rand.Uint64()}).(KeyedLimiter)
}

// keyedLimiter is a per-client limit: a table of buckets by client key.
type keyedLimiter struct {
	t     *shm.Table
	clock limiterClock
}

func (l *keyedLimiter) AllowKey(key []byte, now time.Time) (bool, time.Duration) {
	ok, wait := l.t.Allow(key, l.clock.at(now))
	return ok, time.Duration(wait)
}

func (l *keyedLimiter) Allow(now time.Time) (bool, time.Duration) {
	return l.AllowKey(nil, now)
}

// clientKey is the client's IP address as the key of a per-client limit:
// 4 bytes for IPv4 (also when it reached an IPv6 socket), else the first
// v6Bytes of the IPv6 address (its prefix). It does not allocate: the
// prefix is a slice of the address, hence whole bytes.
func clientKey(ctx *fasthttp.RequestCtx, v6Bytes uint8) []byte {
	ip := ctx.RemoteIP()
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	if len(ip) == 16 {
		return ip[:v6Bytes]
	}
	return ip
}

// v6KeyBytes is how many bytes of an IPv6 address key cfg's clients.
func v6KeyBytes(cfg RateLimitConfig) uint8 {
	if cfg.IPv6Prefix == 0 {
		return DefaultIPv6Prefix / 8
	}
	return uint8(cfg.IPv6Prefix / 8)
}

// allowKeyed applies a per-client limit to ctx, keying IPv6 clients by
// their first v6Bytes; a refusal answers 429.
func (h *hostState) allowKeyed(l KeyedLimiter, v6Bytes uint8, ctx *fasthttp.RequestCtx, now time.Time) bool {
	if ok, wait := l.AllowKey(clientKey(ctx, v6Bytes), now); !ok {
		h.refuse(ctx, wait)
		return false
	}
	return true
}

// limitersLocked returns the limiter of a bucket: a plain Limiter, or for a
// limit with a Key, a KeyedLimiter. A factory that ignores keys gets an
// in-process keyed limiter in its place, since one shared bucket for all
// clients is not what was asked for.
func (m *serverManager) limitersLocked(k LimiterKey, cfg RateLimitConfig) (Limiter, KeyedLimiter) {
	l := m.limiterLocked(k, cfg)
	if cfg.Key == "" {
		return l, nil
	}
	if kl, ok := l.(KeyedLimiter); ok {
		return nil, kl
	}
	kl := NewLocalKeyedLimiter(cfg)
	m.limiters[k] = limiterEntry{cfg: cfg, lim: kl.(Limiter)}
	return nil, kl
}
