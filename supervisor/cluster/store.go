package cluster

import (
	"context"
	"fmt"
	"time"
)

// Op is one limit's part of a round trip to Redis: give Return unspent
// tokens back, then take up to Take more, from the limit's GCRA bucket
// under Key (a request every Interval on average, Tolerance/Interval at
// once, as shm.GCRA).
type Op struct {
	Key                 string
	Interval, Tolerance time.Duration
	Take, Return        int64
}

// Grant is Redis's answer to an Op: the tokens taken, and, when fewer
// than asked, how long until one more would be there.
type Grant struct {
	Tokens int64
	Wait   time.Duration
}

// Store is where the cluster's buckets live: Redis (RedisStore), or a fake
// in tests. Lease runs every op in one round trip, atomically per op; an
// error means Redis was not reached (or failed) and no op may be assumed
// applied or not: the tokens given back in it are lost, which errs on the
// side of admitting less.
type Store interface {
	Lease(ctx context.Context, ops []Op) ([]Grant, error)
}

// LimitKey is the Redis key of the bucket of a host or tenant limit:
// "rockstar:limit:tenant:acme", "rockstar:limit:host:app.example.com".
// Every machine with the same scope and name shares it, so they must all
// give it the same requests_per_second and burst.
func LimitKey(scope, name string) string { return fmt.Sprintf("rockstar:limit:%s:%s", scope, name) }
