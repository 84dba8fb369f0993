// Package cluster makes a rate limit one budget for several Rockstar
// machines behind a load balancer, through Redis: a host or tenant
// rate_limit with scope = "cluster" (and [cluster] redis set).
//
// The hot path never waits on Redis. Each machine's master leases tokens
// of every cluster limit from a GCRA bucket in Redis (one key per limit,
// LimitKey) into the limit's bucket in the memory its workers share
// (wire.ClusterBucket), and the workers spend them there by
// compare-and-swap, as they spend a machine-scoped bucket. The master's
// Manager runs a round every quarter of cluster.lease_window (W, default
// 100 ms) on average: one pipelined round trip (RedisStore: EVALSHA of a
// Lua script, atomic per limit, on Redis's own clock) for every limit
// that needs one, none when none does:
//
//   - a limit being spent holds up to a lease, L = max(1, ⌈rate × W⌉)
//     tokens, and asks for more when fewer than L/2 are left (renewed
//     ahead of need: a machine spending the whole limit alone takes W/2 to
//     spend half a lease, two rounds);
//   - a limit idle for W gives back what it holds over its reserve,
//     r = max(1, ⌈L/4⌉), so that its next requests pass at once; Close
//     gives back the rest;
//   - Redis answers with what its bucket has, never more: a saturated
//     limit gets the tokens as they accrue, shared by the machines that
//     ask, and waits until the next one is due before it asks again. The
//     rounds come at random intervals around W/4, so that machines under
//     the same load share a saturated limit about evenly.
//
// # The bound
//
// Redis's bucket grants at most B + R·T tokens in any T seconds (rate R,
// burst B), and every request the fleet admits spends a granted token,
// once. Tokens granted before a span and spent in it are at most what the
// M machines held when it began. So over any T seconds, with Redis up,
// the fleet admits at most
//
//	B + R·T + M·L     (M·r instead of M·L when the span starts after
//	                   a quiet spell of W: idle machines hold their reserve)
//
// For 100 requests/s, burst 20, two machines and the default window
// (L = 10, r = 3), 4 s admit at most 440 (B + R·T = 420, +4.8%), and 426
// after a quiet spell (+1.4%). A smaller window tightens the bound and
// costs more round trips: a busy machine makes about one per L/2 tokens
// it spends, and at most one a round (W/4 on average) for all its limits
// together. The bound also needs every machine to give the limit the
// same rate and burst.
//
// The other way, the fleet may admit less than one exact bucket would:
// tokens held by machines that do not spend them, at most (M−1)·L at any
// moment, and a burst of more than L requests on one machine within one
// round passes up to what the machine holds and waits for the next round
// (W/4) for the rest.
//
// # Redis away
//
// A round that fails (cluster.timeout, default 50 ms, bounds it; go-redis
// neither retries nor redials within it; a machine whose limits need
// nothing still makes one round trip every HeartbeatInterval, 250 ms, so
// that an idle machine notices too) puts every cluster limit in its
// on_cluster_failure mode at once: "local" (the default) admits the
// machine's share, the rate and burst ÷ cluster.machines (at least 1), in
// the line's own GCRA word; "deny" admits nothing. The tokens the
// machine held are dropped (Redis cannot be told), so with "local" the
// fleet admits at most B + R·T + M·L over a span that starts before
// Redis went, and with "deny" at most M·L. It logs one line for Redis
// going away and one per limit, counts rockstar_cluster_fallbacks_total,
// and sets rockstar_cluster_redis_up to 0. Every ProbeInterval (100 ms)
// it asks Redis again; the first answer brings every limit back to its
// lease, with a log line, and the limit is exact again from there (a
// Redis restarted empty grants a fresh burst).
//
// Per-client limits (key = "client_ip") stay per machine: scope =
// "cluster" is for a host's or tenant's whole budget.
//
// Files, by idea:
//
//	redis.go    NewRedis: the client from the [cluster] section
//	store.go    Store, Op, Grant: a round trip's shape; LimitKey
//	script.go   RedisStore: the Lua GCRA lease script, pipelined
//	lease.go    Limit, LeaseSize, ReserveSize; one limit's plan and credit
//	manager.go  Manager: rounds, fallback and recovery, Stats
package cluster
