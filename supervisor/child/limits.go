package child

import (
	"encoding/json"
	"sync"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/worker"
)

// workerShared is a worker's side of the shared region: the limiter
// factory and the counter allocator it gives its worker.ServerManager.
type workerShared struct {
	r     *shm.Region
	lay   wire.Layout
	seed  uint64
	area  int
	owner uint64 // shm.OwnerID, in the region's locks
	log   zerolog.Logger

	mu     sync.Mutex
	limits map[wire.LimitID]wire.LimitSlot
	series map[worker.SeriesKey]int // directory records read so far
	read   int
	full   bool // the directory is full: logged once
}

// openShared maps the region inherited at fd; area is this worker's
// counters area.
func openShared(fd uintptr, area int, log zerolog.Logger) (*workerShared, error) {
	r, err := shm.Open(fd)
	if err != nil {
		return nil, err
	}
	lay, seed, err := wire.ReadHeader(r)
	if err == nil && (area < 0 || area >= lay.Areas) {
		err = wire.ErrBadShared
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return &workerShared{
		r: r, lay: lay, seed: seed, area: area, owner: shm.OwnerID(), log: log,
		limits: make(map[wire.LimitID]wire.LimitSlot),
		series: make(map[worker.SeriesKey]int),
	}, nil
}

// setLimits takes the body of a "limits" message: where each limit of the
// config that follows keeps its state.
func (w *workerShared) setLimits(body []byte) error {
	var b wire.LimitsBody
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	m := make(map[wire.LimitID]wire.LimitSlot, len(b.Limits))
	for _, sl := range b.Limits {
		if sl.Bucket >= w.lay.Buckets || (sl.Bucket < 0 && !wire.SetsFit(sl.Set, sl.Sets, w.lay.ArenaSets)) {
			return wire.ErrBadShared
		}
		m[sl.ID()] = sl
	}
	w.mu.Lock()
	w.limits = m
	w.mu.Unlock()
	return nil
}

// limiter is the worker.LimiterFactory: a limit the master assigned a
// bucket or table gets the worker's limiter over it, in the region
// (worker.NewLimiterOn); any other (none should be) stays in this process,
// and says so.
func (w *workerShared) limiter(k worker.LimiterKey, cfg worker.RateLimitConfig) worker.Limiter {
	w.mu.Lock()
	sl, ok := w.limits[wire.LimitID{Scope: k.Scope, Name: k.Name, Limit: cfg}]
	w.mu.Unlock()
	if !ok {
		w.log.Warn().Str("scope", k.Scope).Str("name", k.Name).Msg("limit has no shared bucket; limiting in this worker only")
		return worker.NewLocalLimiter(cfg)
	}
	if wire.IsCluster(cfg.Placement) && sl.Bucket >= 0 {
		return newClusterLimiter(wire.ClusterBucketAt(w.r.Int64, &w.lay, sl.Bucket), cfg)
	}
	mem := worker.LimiterMemory{Seed: w.seed, Owner: w.owner, Alive: shm.Alive}
	if sl.Bucket >= 0 {
		mem.Bucket = w.r.Int64(w.lay.BucketOff(sl.Bucket))
	} else {
		mem.Table = w.r.Words(w.lay.SetOff(sl.Set), w.lay.TableWords(sl.Sets))
	}
	return worker.NewLimiterOn(cfg, mem)
}

// counters is the worker.CounterAllocator: the series' counters in this
// worker's area, after finding or adding the series in the directory.
func (w *workerShared) counters(k worker.SeriesKey) *worker.Counters {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.series[k]
	if !ok {
		lock := w.r.Uint64(wire.HdrDirLock)
		shm.Lock(lock, w.owner, shm.Alive)
		w.syncLocked()
		if i, ok = w.series[k]; !ok {
			i, ok = w.appendLocked(k)
		}
		shm.Unlock(lock)
		if !ok {
			if !w.full {
				w.full = true
				w.log.Error().Int("capacity", w.lay.SeriesCap).Str("host", k.Host).
					Msg("shared metrics directory is full: new series are counted in this worker only, not in /metrics")
			}
			return nil
		}
	}
	return (*worker.Counters)(w.r.Pointer(w.lay.CellOff(w.area, i), worker.CountersSize))
}

// syncLocked reads the records other workers added; the directory lock
// must be held (or the read count may race an append).
func (w *workerShared) syncLocked() {
	n := int(min(w.r.Uint64(wire.HdrDirCount).Load(), uint64(w.lay.SeriesCap)))
	for ; w.read < n; w.read++ {
		if k, ok := wire.DecodeRecord(w.r.Bytes(w.lay.RecordOff(w.read), wire.RecordBytes)); ok {
			if _, dup := w.series[k]; !dup {
				w.series[k] = w.read
			}
		}
	}
}

// appendLocked adds k to the directory, under its lock: the record first,
// then the count that publishes it.
func (w *workerShared) appendLocked(k worker.SeriesKey) (int, bool) {
	i := w.read
	if i >= w.lay.SeriesCap || !wire.EncodeRecord(w.r.Bytes(w.lay.RecordOff(i), wire.RecordBytes), k) {
		return 0, false
	}
	w.r.Uint64(wire.HdrDirCount).Store(uint64(i + 1))
	w.read = i + 1
	w.series[k] = i
	return i, true
}

// requests is the number of requests counted in this worker's area, over
// every series; the part since the worker started is its own.
func (w *workerShared) requests() uint64 {
	w.mu.Lock()
	n := int(min(w.r.Uint64(wire.HdrDirCount).Load(), uint64(w.lay.SeriesCap)))
	w.mu.Unlock()
	var total uint64
	for i := range n {
		c := (*worker.Counters)(w.r.Pointer(w.lay.CellOff(w.area, i), worker.CountersSize))
		total += c.Stats().Requests
	}
	return total
}
