package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// leaseScript is one Op on one bucket, atomically: the GCRA theoretical
// arrival time (TAT) of the bucket's next token, in microseconds on
// Redis's own clock (TIME: one clock for every machine), moves back by
// the tokens given back (never before now), then forward by those taken,
// as many of the asked as pass: a token passes while TAT + interval stays
// within tolerance of now, as in shm.GCRA. It returns the tokens taken and,
// if fewer than asked, the microseconds until one more would pass. The key
// expires once the bucket is full again (a full bucket is no key).
//
// KEYS[1] the bucket; ARGV: interval, tolerance (microseconds, fractional),
// take, give.
var leaseScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local take = tonumber(ARGV[3])
local give = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
if give > 0 then
  tat = math.max(tat - give * interval, now)
end
local got = math.floor((now + tolerance - tat) / interval + 1e-9)
if got > take then got = take end
if got < 0 then got = 0 end
tat = tat + got * interval
local wait = 0
if got < take then
  wait = math.max(tat + interval - tolerance - now, 0)
end
if tat > now then
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
else
  redis.call('DEL', KEYS[1])
end
return {got, math.ceil(wait)}
`)

// errScriptReply: Redis answered the lease script with something else
// than its two numbers.
var errScriptReply = errors.New("cluster: unexpected lease script reply")

// RedisStore is the Store of a Redis server: every round is one pipeline
// of EVALSHA calls of the lease script, loaded again when Redis lost it
// (a restart).
type RedisStore struct {
	c *redis.Client
}

// NewRedisStore returns the store of the client c (NewRedis).
func NewRedisStore(c *redis.Client) *RedisStore { return &RedisStore{c: c} }

// Lease runs ops in one round trip.
func (s *RedisStore) Lease(ctx context.Context, ops []Op) ([]Grant, error) {
	grants, err := s.run(ctx, ops)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = leaseScript.Load(ctx, s.c).Err(); err == nil {
			grants, err = s.run(ctx, ops)
		}
	}
	return grants, err
}

func (s *RedisStore) run(ctx context.Context, ops []Op) ([]Grant, error) {
	cmds := make([]*redis.Cmd, len(ops))
	p := s.c.Pipeline()
	for i, op := range ops {
		cmds[i] = leaseScript.EvalSha(ctx, p, []string{op.Key},
			micros(op.Interval), micros(op.Tolerance), op.Take, op.Return)
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]Grant, len(ops))
	for i, c := range cmds {
		v, err := c.Int64Slice()
		if err != nil || len(v) != 2 {
			return nil, fmt.Errorf("%w: %v", errScriptReply, err)
		}
		out[i] = Grant{Tokens: v[0], Wait: microsDuration(v[1])}
	}
	return out, nil
}

// micros is d in microseconds, with three decimals: a limit of a million
// requests a second has an interval of one.
func micros(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/1e3, 'f', 3, 64)
}

func microsDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
