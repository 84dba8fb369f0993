package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// ErrNoRedis: the [cluster] section names no Redis server.
var ErrNoRedis = errors.New("cluster: no redis configured")

// ErrRedisURL: the [cluster] redis URL is not one go-redis can use.
var ErrRedisURL = errors.New("cluster: bad redis url")

// NewRedis returns a client for c's Redis, made to give up fast rather
// than wait: every dial, read and write is bounded by c.Timeout (default
// 50 ms), so is the wait for a pooled connection, and a failed command is
// not retried (the caller's next round is the retry). It dials nothing
// until the first command. Other parts of the master that talk to the
// same Redis may share one client.
//
// go-redis's own log (a line for every failed dial, many a second while
// Redis is away) is silenced, for the whole process: the callers log the
// transitions that matter.
func NewRedis(c config.Cluster) (*redis.Client, error) {
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	if !c.Enabled() {
		return nil, ErrNoRedis
	}
	o, err := redis.ParseURL(c.Redis)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRedisURL, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = config.DefaultClusterTimeout
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1   // no retries: a round that fails is tried again next tick
	o.DialerRetries = 1 // one dial per attempt, not five 100 ms apart
	o.PoolSize = 4
	o.DisableIdentity = true // no CLIENT SETINFO round trip on every new connection
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(o), nil
}

var quietOnce sync.Once

// quiet is a go-redis logger that drops everything.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
