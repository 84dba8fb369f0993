package supervisor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// sharedMem is the master's side of the shared region: it owns the memfd,
// hands out buckets, tables and counter areas, and reads every area's
// counters for /metrics and /status.
type sharedMem struct {
	r   *shm.Region
	lay wire.Layout

	mu          sync.Mutex
	slots       map[wire.LimitID]wire.LimitSlot // limits that have a bucket or table
	freeBuckets []int                           // a stack, lowest index on top
	freeSets    []extent                        // free runs of arena sets, by start
	areaProcs   []int                           // processes using each area now
	labels      []worker.SeriesKey              // directory records read so far

	// Across a binary upgrade (shared_handover.go): the old master, once
	// it handed the region over, allocates and frees nothing in it; the
	// new one keeps the old one's assignments live and its areas taken
	// until the old master's workers are gone.
	handedOver bool
	inherited  []wire.LimitSlot
	oldAreas   []int
}

// extent is a run of arena sets.
type extent struct{ start, n int }

// newSharedMem creates the region for cfg.
func newSharedMem(cfg *config.Config) (*sharedMem, error) {
	lay := layoutFor(cfg)
	r, err := shm.Create("rockstar", lay.Size)
	if err != nil {
		return nil, fmt.Errorf("supervisor: shared memory for limits and metrics: %w", err)
	}
	wire.WriteHeader(r, lay, rand.Uint64())
	s := &sharedMem{
		r:         r,
		lay:       lay,
		slots:     make(map[wire.LimitID]wire.LimitSlot),
		freeSets:  []extent{{0, lay.ArenaSets}},
		areaProcs: make([]int, lay.Areas),
	}
	for i := lay.Buckets - 1; i >= 0; i-- {
		s.freeBuckets = append(s.freeBuckets, i)
	}
	return s, nil
}

// close unmaps the region; every worker must be gone.
func (s *sharedMem) close() error { return s.r.Close() }

// assign returns where each of cfg's limits keeps its state: the bucket or
// table it had if a limit with the same scope, name and settings has one,
// else a fresh, zeroed one. If the region is full it assigns nothing and
// returns an error wrapping ErrSharedFull.
func (s *sharedMem) assign(cfg *config.Config) ([]wire.LimitSlot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handedOver {
		return nil, errHandedOver
	}
	var out, fresh []wire.LimitSlot
	for _, id := range configLimits(cfg) {
		if sl, ok := s.slots[id]; ok {
			out = append(out, sl)
			continue
		}
		sl, err := s.allocLocked(id)
		if err != nil {
			for _, f := range fresh {
				s.freeLocked(f)
			}
			return nil, err
		}
		s.slots[id] = sl
		fresh = append(fresh, sl)
		out = append(out, sl)
	}
	return out, nil
}

func (s *sharedMem) allocLocked(id wire.LimitID) (wire.LimitSlot, error) {
	sl := wire.LimitSlot{Scope: id.Scope, Name: id.Name, Limit: id.Limit, Bucket: -1}
	if id.Limit.Key == "" {
		if len(s.freeBuckets) == 0 {
			return sl, fmt.Errorf("%w: no bucket left for %s %s (%d in all)", ErrSharedFull, id.Scope, id.Name, s.lay.Buckets)
		}
		sl.Bucket = s.freeBuckets[len(s.freeBuckets)-1]
		s.freeBuckets = s.freeBuckets[:len(s.freeBuckets)-1]
		_ = s.r.Zero(s.lay.BucketOff(sl.Bucket), shm.Align) // freed buckets are zeroed too; this is cheap insurance
		return sl, nil
	}
	size := id.Limit.Size
	if size <= 0 {
		size = worker.DefaultClientTableSize
	}
	n := shm.TableSets(size)
	for i, e := range s.freeSets {
		if e.n >= n {
			sl.Set, sl.Sets = e.start, n
			// Freed tables are zeroed; this covers what a master that
			// failed to take over (a failed upgrade) may have left.
			_ = s.r.Zero(s.lay.SetOff(sl.Set), n*shm.SetBytes)
			if e.n == n {
				s.freeSets = slices.Delete(s.freeSets, i, i+1)
			} else {
				s.freeSets[i] = extent{e.start + n, e.n - n}
			}
			return sl, nil
		}
	}
	return sl, fmt.Errorf("%w: no room for the %d-client table of %s %s", ErrSharedFull, size, id.Scope, id.Name)
}

// freeLocked zeroes a limit's bucket or table and makes it free.
func (s *sharedMem) freeLocked(sl wire.LimitSlot) {
	delete(s.slots, sl.ID())
	if sl.Bucket >= 0 {
		_ = s.r.Zero(s.lay.BucketOff(sl.Bucket), shm.Align) // a cluster limit's words too
		s.freeBuckets = append(s.freeBuckets, sl.Bucket)
		return
	}
	_ = s.r.Zero(s.lay.SetOff(sl.Set), sl.Sets*shm.SetBytes)
	i, _ := slices.BinarySearchFunc(s.freeSets, sl.Set, func(e extent, start int) int { return e.start - start })
	s.freeSets = slices.Insert(s.freeSets, i, extent{sl.Set, sl.Sets})
	// Merge with the neighbours.
	if i+1 < len(s.freeSets) && s.freeSets[i].start+s.freeSets[i].n == s.freeSets[i+1].start {
		s.freeSets[i].n += s.freeSets[i+1].n
		s.freeSets = slices.Delete(s.freeSets, i+1, i+2)
	}
	if i > 0 && s.freeSets[i-1].start+s.freeSets[i-1].n == s.freeSets[i].start {
		s.freeSets[i-1].n += s.freeSets[i].n
		s.freeSets = slices.Delete(s.freeSets, i, i+1)
	}
}

// collect frees every bucket and table that none of the live assignments
// (those some running worker may use) names.
func (s *sharedMem) collect(live [][]wire.LimitSlot) {
	keep := make(map[wire.LimitID]bool)
	for _, set := range live {
		for _, sl := range set {
			keep[sl.ID()] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handedOver {
		return // the new master's now
	}
	for _, sl := range s.inherited {
		keep[sl.ID()] = true
	}
	for id, sl := range s.slots {
		if !keep[id] {
			s.freeLocked(sl)
		}
	}
}

// acquireArea picks the counters area of a new worker process: a free one
// that was used before if any (its counters go on), else a fresh one, else
// the least shared one (areas are atomics, so sharing is only slower).
func (s *sharedMem) acquireArea() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for a, n := range s.areaProcs {
		if n == 0 {
			best = a
			break
		}
		if best < 0 || n < s.areaProcs[best] {
			best = a
		}
	}
	s.areaProcs[best]++
	s.r.Uint64(s.lay.AreaUsedOff(best)).Store(1)
	return best
}

// releaseArea is called when the process that used area a has exited.
func (s *sharedMem) releaseArea(a int) {
	s.mu.Lock()
	s.areaProcs[a]--
	s.mu.Unlock()
}

// syncLabelsLocked reads the directory records workers added since the
// last call.
func (s *sharedMem) syncLabelsLocked() {
	n := int(min(s.r.Uint64(wire.HdrDirCount).Load(), uint64(s.lay.SeriesCap)))
	for i := len(s.labels); i < n; i++ {
		k, _ := wire.DecodeRecord(s.r.Bytes(s.lay.RecordOff(i), wire.RecordBytes))
		s.labels = append(s.labels, k)
	}
}

// snapshot adds up every area's counters, those of exited workers
// included, by series; and, when codes is not nil, the answers by status
// code of each series into it (worker.Counters.AddCodes).
func (s *sharedMem) snapshot(codes map[worker.SeriesKey]map[int]uint64) map[worker.SeriesKey]worker.Stats {
	s.mu.Lock()
	s.syncLabelsLocked()
	labels := s.labels
	var areas []int
	for a := range s.lay.Areas {
		if s.r.Uint64(s.lay.AreaUsedOff(a)).Load() != 0 {
			areas = append(areas, a)
		}
	}
	s.mu.Unlock()
	out := make(map[worker.SeriesKey]worker.Stats, len(labels))
	for i, k := range labels {
		st := out[k]
		var byCode map[int]uint64
		if codes != nil {
			if byCode = codes[k]; byCode == nil {
				byCode = make(map[int]uint64)
				codes[k] = byCode
			}
		}
		for _, a := range areas {
			c := s.counters(a, i)
			st.Add(c.Stats())
			if byCode != nil {
				c.AddCodes(byCode)
			}
		}
		out[k] = st
	}
	return out
}

func (s *sharedMem) counters(area, i int) *worker.Counters {
	return (*worker.Counters)(s.r.Pointer(s.lay.CellOff(area, i), worker.CountersSize))
}
