package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/supervisor/cluster"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// Purges across machines. With [cluster] redis set, the master PUBLISHes
// every purge it applies (the admin API's) on PurgeChannel, and SUBSCRIBEs
// to it to apply the other machines' (their origin is not its own). With
// Redis away, a purge is still applied here at once, and queued (at most
// maxQueuedPurges, the oldest dropped past that) until Redis answers
// again; after such an outage the queue is published once cluster.machines
// subscribers are back on the channel (or after purgeResubscribeWait), and
// again 1 s and 3 s later, so that machines that reconnect a little later
// still get it (applying a purge twice is harmless). A machine
// whose own link to Redis was down while another published misses that
// purge: its entries still end with their TTL. Every Redis call is bounded
// by cluster.timeout; nothing on a request's path waits on Redis.

// PurgeChannel is the Redis pub/sub channel of cache purges.
const PurgeChannel = "rockstar:cache:purge"

const (
	maxQueuedPurges      = 1024
	purgeRetry           = 100 * time.Millisecond // first wait after a failed Redis call
	purgeRetryMax        = 2 * time.Second
	purgeResubscribeWait = 2 * time.Second
)

// purgeReplays are when, after an outage, what was queued is sent again.
var purgeReplays = []time.Duration{time.Second, 3 * time.Second}

// CachePurge is one purge: a tenant's entries whose URI starts with Prefix
// ("" for all), on Host ("" for any), tagged Tag ("" for any). Origin is
// the machine that asked for it (its JSON form is the pub/sub payload).
type CachePurge struct {
	Tenant string `json:"tenant"`
	Host   string `json:"host,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// purgeBus is the master's link to the other machines' caches.
type purgeBus struct {
	log     zerolog.Logger
	cluster config.Cluster
	client  *redis.Client
	origin  string
	apply   func(CachePurge) int

	mu     sync.Mutex
	queue  []CachePurge
	wake   chan struct{} // one pending wake-up of the publisher
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// machineID names this master in the purges it publishes.
func machineID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	h, _ := os.Hostname()
	return h + "/" + hex.EncodeToString(b[:])
}

// startPurgeBus connects to c's Redis (nil without one); apply applies a
// purge another machine published to this machine's caches.
func startPurgeBus(c config.Cluster, log zerolog.Logger, apply func(CachePurge) int) (*purgeBus, error) {
	if !c.Enabled() {
		return nil, nil
	}
	client, err := cluster.NewRedis(c) // the cluster limits' settings: bounded, no retries
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &purgeBus{log: log, cluster: c, client: client, origin: machineID(), apply: apply,
		wake: make(chan struct{}, 1), cancel: cancel}
	b.wg.Go(func() { b.subscribe(ctx) })
	b.wg.Go(func() { b.publishLoop(ctx) })
	return b, nil
}

// close stops both loops and waits for them; what is queued is lost.
func (b *purgeBus) close() {
	if b == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
	_ = b.client.Close()
}

// publish queues p for the other machines; it never waits on Redis.
func (b *purgeBus) publish(p CachePurge) {
	if b == nil {
		return
	}
	p.Origin = b.origin
	b.mu.Lock()
	if len(b.queue) >= maxQueuedPurges {
		b.log.Warn().Str("tenant", b.queue[0].Tenant).Msg("cache purge queue full: the oldest purge is not sent to the other machines")
		b.queue = b.queue[1:]
	}
	b.queue = append(b.queue, p)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// queued is how many purges wait for Redis.
func (b *purgeBus) queued() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// publishLoop sends the queue in order, retrying with backoff while Redis
// is away. What it sends once Redis is back it sends again after each of
// purgeReplays (a purge is idempotent: applied twice it removes at most
// what was stored again in between), for the machines that subscribe
// again a little later than this one.
func (b *purgeBus) publishLoop(ctx context.Context) {
	failed := false
	wait := purgeRetry
	var replay []CachePurge // sent after an outage, to send again
	var replayAt []time.Time
	for {
		b.mu.Lock()
		var p CachePurge
		have := len(b.queue) > 0
		if have {
			p = b.queue[0]
		}
		b.mu.Unlock()
		if !have {
			var timer <-chan time.Time
			if len(replayAt) > 0 {
				timer = time.After(time.Until(replayAt[0]))
			}
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
			case <-timer:
				replayAt = replayAt[1:]
				for _, r := range replay {
					_ = b.send(ctx, r) // best effort: the first send went out
				}
				if len(replayAt) == 0 {
					replay = nil
				}
			}
			continue
		}
		if failed {
			b.awaitSubscribers(ctx)
		}
		err := b.send(ctx, p)
		if err == nil {
			b.mu.Lock()
			if len(b.queue) > 0 && b.queue[0] == p {
				b.queue = b.queue[1:]
			}
			b.mu.Unlock()
			if failed {
				b.log.Info().Msg("cache purges: Redis is back; queued purges sent")
				replay, replayAt = replay[:0], replayAt[:0]
				now := time.Now()
				for _, d := range purgeReplays {
					replayAt = append(replayAt, now.Add(d))
				}
			}
			if len(replayAt) > 0 {
				replay = append(replay, p)
			}
			failed, wait = false, purgeRetry
			continue
		}
		if !failed {
			b.log.Warn().Err(err).Int("queued", b.queued()).Msg("cache purges: Redis is away; purges are queued until it returns")
		}
		failed = true
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, purgeRetryMax)
	}
}

// send publishes p, within cluster.timeout.
func (b *purgeBus) send(ctx context.Context, p CachePurge) error {
	body, _ := json.Marshal(p)
	cctx, cancel := context.WithTimeout(ctx, b.cluster.Timeout)
	defer cancel()
	return b.client.Publish(cctx, PurgeChannel, body).Err()
}

// awaitSubscribers waits, after an outage, until cluster.machines
// subscribers are on the channel again, at most purgeResubscribeWait.
func (b *purgeBus) awaitSubscribers(ctx context.Context) {
	deadline := time.Now().Add(purgeResubscribeWait)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, b.cluster.Timeout)
		n, err := b.client.PubSubNumSub(cctx, PurgeChannel).Result()
		cancel()
		if err != nil || n[PurgeChannel] >= int64(b.cluster.Machines) {
			return // an error: the publish that follows says so
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// subscribe applies the other machines' purges, subscribing again after
// every failure.
func (b *purgeBus) subscribe(ctx context.Context) {
	wait := purgeRetry
	for ctx.Err() == nil {
		ps := b.client.Subscribe(ctx)
		err := ps.Subscribe(ctx, PurgeChannel)
		if err == nil {
			var msg any
			cctx, cancel := context.WithTimeout(ctx, b.cluster.Timeout)
			msg, err = ps.Receive(cctx) // the subscription's confirmation
			cancel()
			if _, ok := msg.(*redis.Subscription); err == nil && !ok {
				err = errUnexpectedReply
			}
		}
		if err == nil {
			wait = purgeRetry
			err = b.receive(ctx, ps)
		}
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		b.log.Debug().Err(err).Msg("cache purges: subscription lost; subscribing again")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second) // back soon: a purge published before is missed
	}
}

var errUnexpectedReply = errors.New("supervisor: unexpected Redis reply")

// receive applies purges until the subscription fails.
func (b *purgeBus) receive(ctx context.Context, ps *redis.PubSub) error {
	for {
		// A bounded wait, with a ping when it ends quiet, so that a Redis
		// that went away is noticed within about a second.
		msg, err := ps.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // a pong
		}
		var p CachePurge
		if json.Unmarshal([]byte(m.Payload), &p) != nil || p.Origin == b.origin {
			continue
		}
		n := b.apply(p)
		b.log.Info().Str("tenant", p.Tenant).Str("prefix", p.Prefix).Str("tag", p.Tag).Str("origin", p.Origin).
			Int("purged", n).Msg("cache purge from another machine")
	}
}
