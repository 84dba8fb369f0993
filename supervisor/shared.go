package supervisor

import (
	"errors"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// The master shares one memory region with all its workers (its layout is
// the contract's: wire.Layout). The master decides which bucket or table
// each limit uses (sharedMem.assign) and tells the workers in a
// wire.MsgLimits message, right after the config and before every config
// push. A limit that did not change keeps its bucket, and so its state,
// across reloads, generations and worker restarts; a changed or new one
// gets a zeroed one; a bucket no running worker can use any more is freed.
//
// A binary upgrade hands the region on (shared_handover.go): the new
// master adopts the memfd, with the old one's bucket assignments, so that
// counters never go down and spent limits stay spent across it.

// ErrSharedFull: the region has no room left for a limit's bucket or
// table; it is sized when the master starts, with room to grow, and a
// restart sizes it anew.
var ErrSharedFull = errors.New("supervisor: shared memory region is full")

// layoutFor sizes a region for cfg, with room for the hosts, tenants and
// limits to grow by reloads: four times what cfg needs, and never less
// than a comfortable minimum. Untouched pages cost no memory.
func layoutFor(cfg *config.Config) wire.Layout {
	limits, sets := 0, 0
	count := func(r *config.RateLimit) {
		if r == nil {
			return
		}
		limits++
		if r.Key != "" {
			sets += shm.TableSets(r.Size)
		}
	}
	for i := range cfg.Hosts {
		count(cfg.Hosts[i].RateLimit)
	}
	for i := range cfg.Tenants {
		count(cfg.Tenants[i].RateLimit)
	}
	series := len(cfg.Servers) * (len(cfg.Hosts) + 1)
	l := wire.Layout{
		Buckets:   max(1024, 4*limits),
		SeriesCap: max(4096, 4*series),
		Areas:     min(max(16, 4*workerCount(cfg)), wire.MaxAreas),
		ArenaSets: max(1<<16, 2*sets+1<<14),
		CellSize:  wire.CellSize,
	}
	l.Place()
	return l
}

// configLimits lists cfg's limits.
func configLimits(cfg *config.Config) []wire.LimitID {
	var out []wire.LimitID
	for _, h := range cfg.Hosts {
		if h.RateLimit != nil {
			out = append(out, wire.LimitID{Scope: worker.ScopeHost, Name: h.Hostname, Limit: *h.RateLimit.Worker()})
		}
	}
	for _, t := range cfg.Tenants {
		if t.RateLimit != nil {
			out = append(out, wire.LimitID{Scope: worker.ScopeTenant, Name: t.ID, Limit: *t.RateLimit.Worker()})
		}
	}
	return out
}
