package supervisor

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// The shared region across a binary upgrade (USR2, upgrade.go).
//
// Beside the listening sockets, the old master hands the new one:
//
//   - the region's memfd;
//   - its state, as JSON in a sealed memfd of its own (sharedHandover):
//     where every limit keeps its state, which counters areas its processes
//     use, and its worker restart and reload counts;
//   - the read end of a pipe whose write end it closes once all its
//     workers are gone.
//
// From then on the old master allocates and frees nothing in the region
// (it would take back that right only if the upgrade failed). The new
// master adopts the region when it has this binary's version and layout
// and the new config's limits fit in it: its workers count in the same
// directory and areas, so that no counter of /metrics goes down, and a
// limit with the same scope, name and settings keeps its bucket or table,
// so that a spent limit stays spent. Until the pipe says the old workers
// are gone, their limits' buckets and tables stay allocated and their
// areas taken. If the region cannot be adopted (another version of the
// layout, a config whose limits do not fit, a bad state), the new master
// logs why and makes a fresh one: counters and limits then start afresh,
// as after a restart.

// envInheritShared is the fds of a new master's region, state and pipe,
// "region,state,pipe".
const envInheritShared = "ROCKSTAR_INHERIT_SHARED"

// handoverVersion is the version of sharedHandover.
const handoverVersion = 1

// sharedHandover is what the old master tells the new one about the region.
type sharedHandover struct {
	Version  int              `json:"version"`
	Limits   []wire.LimitSlot `json:"limits"`   // every allocated bucket and table
	Areas    []int            `json:"areas"`    // counters areas its processes use
	Restarts int64            `json:"restarts"` // rockstar_worker_restarts_total
	Reloads  map[string]int64 `json:"reloads"`  // rockstar_config_reloads_total
	// Upstreams is what the proxy hosts' upstreams answered so far
	// (rockstar_upstream_requests_total and the latency histogram), which
	// the workers count in their own memory (upstream_metrics.go): what
	// the old workers count after the handover is not carried over.
	Upstreams []wire.Upstream `json:"upstreams,omitempty"`
}

var (
	// errHandedOver: the region belongs to a new master now.
	errHandedOver = errors.New("supervisor: the shared memory region was handed to a new master")
	// errBadHandover: the old master's state does not describe its region.
	errBadHandover = errors.New("supervisor: bad shared memory handover")
)

// handOver stops s from allocating or freeing anything, and returns what
// a new master needs to go on with the region; errHandedOver if it was
// handed over already (to a new master that got ready: two masters must
// not allocate in one region).
func (s *sharedMem) handOver() (sharedHandover, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handedOver {
		return sharedHandover{}, errHandedOver
	}
	s.handedOver = true
	h := sharedHandover{Version: handoverVersion, Limits: slices.Collect(maps.Values(s.slots))}
	slices.SortFunc(h.Limits, func(a, b wire.LimitSlot) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Set, b.Set))
	})
	for a, n := range s.areaProcs {
		if n > 0 {
			h.Areas = append(h.Areas, a)
		}
	}
	return h, nil
}

// takeBack undoes handOver, after an upgrade that failed.
func (s *sharedMem) takeBack() {
	s.mu.Lock()
	s.handedOver = false
	s.mu.Unlock()
}

// oldMasterGone frees what the old master's workers held.
func (s *sharedMem) oldMasterGone() {
	s.mu.Lock()
	for _, a := range s.oldAreas {
		s.areaProcs[a]--
	}
	s.oldAreas, s.inherited = nil, nil
	s.mu.Unlock()
}

// adoptSharedMem goes on with the region r of an old master whose state is
// h; it fails if h does not describe a region of this layout.
func adoptSharedMem(r *shm.Region, h sharedHandover) (*sharedMem, error) {
	if h.Version != handoverVersion {
		return nil, fmt.Errorf("%w: state version %d, want %d", errBadHandover, h.Version, handoverVersion)
	}
	lay, _, err := wire.ReadHeader(r)
	if err != nil {
		return nil, err
	}
	s := &sharedMem{r: r, lay: lay, slots: make(map[wire.LimitID]wire.LimitSlot), areaProcs: make([]int, lay.Areas)}
	bucketUsed := make([]bool, lay.Buckets)
	var tables []extent
	for _, sl := range h.Limits {
		if _, dup := s.slots[sl.ID()]; dup {
			return nil, fmt.Errorf("%w: %s %s twice", errBadHandover, sl.Scope, sl.Name)
		}
		if sl.Bucket >= 0 {
			if sl.Bucket >= lay.Buckets || bucketUsed[sl.Bucket] {
				return nil, fmt.Errorf("%w: bucket %d of %s %s", errBadHandover, sl.Bucket, sl.Scope, sl.Name)
			}
			bucketUsed[sl.Bucket] = true
		} else {
			if !wire.SetsFit(sl.Set, sl.Sets, lay.ArenaSets) {
				return nil, fmt.Errorf("%w: sets %d+%d of %s %s", errBadHandover, sl.Set, sl.Sets, sl.Scope, sl.Name)
			}
			tables = append(tables, extent{sl.Set, sl.Sets})
		}
		s.slots[sl.ID()] = sl
	}
	for i := lay.Buckets - 1; i >= 0; i-- {
		if !bucketUsed[i] {
			s.freeBuckets = append(s.freeBuckets, i)
		}
	}
	slices.SortFunc(tables, func(a, b extent) int { return a.start - b.start })
	next := 0
	for _, e := range tables {
		if e.start < next {
			return nil, fmt.Errorf("%w: tables overlap at set %d", errBadHandover, e.start)
		}
		if e.start > next {
			s.freeSets = append(s.freeSets, extent{next, e.start - next})
		}
		next = e.start + e.n
	}
	if next < lay.ArenaSets {
		s.freeSets = append(s.freeSets, extent{next, lay.ArenaSets - next})
	}
	for _, a := range h.Areas {
		if a < 0 || a >= lay.Areas {
			return nil, fmt.Errorf("%w: area %d of %d", errBadHandover, a, lay.Areas)
		}
		s.areaProcs[a]++
		s.oldAreas = append(s.oldAreas, a)
	}
	s.inherited = h.Limits
	return s, nil
}

// handOverShared prepares the region's handover to a new master whose
// inherited files start at fd first: the files to pass, its environment
// entry, and finish, to call with whether the upgrade succeeded.
func (m *Master) handOverShared(first int) (files []*os.File, env string, finish func(ok bool), err error) {
	if m.shared == nil {
		return nil, "", func(bool) {}, nil
	}
	upstreams := m.upstreamCounts() // before the freeze: it asks the workers
	h, err := m.shared.handOver()
	if err != nil {
		return nil, "", nil, err
	}
	m.pauseCluster(true) // the new master leases the buckets from now on
	h.Restarts = m.restarts.Load()
	h.Upstreams = upstreams
	m.mu.Lock()
	h.Reloads = maps.Clone(m.reloads)
	m.mu.Unlock()
	fail := func(err error) ([]*os.File, string, func(bool), error) {
		m.shared.takeBack()
		m.pauseCluster(false)
		return nil, "", nil, err
	}
	body, err := json.Marshal(h)
	if err != nil {
		return fail(err)
	}
	state, err := shm.Create("rockstar-handover", len(body))
	if err != nil {
		return fail(err)
	}
	copy(state.Bytes(0, len(body)), body)
	pr, pw, err := os.Pipe()
	if err != nil {
		state.Close()
		return fail(err)
	}
	finish = func(ok bool) {
		state.Close()
		pr.Close()
		if !ok {
			pw.Close()
			m.shared.takeBack()
			m.pauseCluster(false)
			return
		}
		m.mu.Lock()
		m.handedTo = pw // closed once this master's workers are gone
		m.mu.Unlock()
	}
	env = fmt.Sprintf("%s=%d,%d,%d", envInheritShared, first, first+1, first+2)
	return []*os.File{m.shared.r.File(), state.File(), pr}, env, finish, nil
}

// workersGone tells the new master of an upgrade, if any, that this
// master's workers are gone.
func (m *Master) workersGone() {
	m.mu.Lock()
	f := m.handedTo
	m.handedTo = nil
	m.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// openSharedMem makes the region for cfg, or adopts the one an old master
// handed over.
func (m *Master) openSharedMem(cfg *config.Config) (*sharedMem, error) {
	spec := os.Getenv(envInheritShared)
	os.Unsetenv(envInheritShared)
	if spec == "" || !isUpgrade() {
		return newSharedMem(cfg)
	}
	s, h, err := m.adoptInheritedShared(spec)
	if h.Version == handoverVersion { // the master's own counters carry on in any case
		m.restarts.Store(h.Restarts)
		for k := range m.reloads {
			m.reloads[k] = h.Reloads[k]
		}
		m.upstreams.seed(h.Upstreams)
	}
	if err != nil {
		m.log.Warn().Err(err).Msg("upgrade: cannot adopt the old master's shared memory; counters and rate limits start afresh")
		return newSharedMem(cfg)
	}
	if _, err := s.assign(cfg); err != nil {
		m.log.Warn().Err(err).Msg("upgrade: the config's limits do not fit the old master's shared memory; counters and rate limits start afresh")
		m.stopWatchingOldMaster()
		s.close()
		return newSharedMem(cfg)
	}
	m.log.Info().Int("limits", len(h.Limits)).Ints("areas", h.Areas).Msg("upgrade: adopted the old master's shared memory")
	return s, nil
}

// adoptInheritedShared takes the region, state and pipe named by spec.
func (m *Master) adoptInheritedShared(spec string) (*sharedMem, sharedHandover, error) {
	var h sharedHandover
	parts := strings.Split(spec, ",")
	var fds [3]int
	if len(parts) != len(fds) {
		return nil, h, fmt.Errorf("%w: %s=%q", errBadHandover, envInheritShared, spec)
	}
	// Regular files (memfds) and a pipe, or they are not what an old
	// master passed: then they are left alone, not closed.
	kinds := [3]uint32{syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFIFO}
	for i, p := range parts {
		fd, err := strconv.Atoi(p)
		var st syscall.Stat_t
		if err != nil || fd < 3 || syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != kinds[i] {
			return nil, h, fmt.Errorf("%w: %s=%q: fd %s is not what an old master passes", errBadHandover, envInheritShared, spec, p)
		}
		fds[i] = fd
	}
	for _, fd := range fds {
		syscall.CloseOnExec(fd) // not for this master's workers: it passes them the region itself
	}
	// The pipe: non-blocking, so that closing it ends a pending read.
	if err := syscall.SetNonblock(fds[2], true); err != nil {
		return nil, h, fmt.Errorf("%w: pipe: %w", errBadHandover, err)
	}
	watch := os.NewFile(uintptr(fds[2]), "old-master-workers")
	state, err := shm.Open(uintptr(fds[1]))
	if err != nil {
		watch.Close()
		return nil, h, fmt.Errorf("%w: state: %w", errBadHandover, err)
	}
	err = json.Unmarshal(state.Bytes(0, state.Size()), &h)
	state.Close()
	if err != nil {
		watch.Close()
		return nil, h, fmt.Errorf("%w: state: %w", errBadHandover, err)
	}
	r, err := shm.Adopt(uintptr(fds[0]))
	if err != nil {
		watch.Close()
		return nil, h, err
	}
	s, err := adoptSharedMem(r, h)
	if err != nil {
		watch.Close()
		r.Close()
		return nil, h, err
	}
	m.mu.Lock()
	m.oldMaster = watch
	m.mu.Unlock()
	return s, h, nil
}

// watchOldMaster waits until the old master of an upgrade has no workers
// left (its end of the pipe closes), then frees what they held.
func (m *Master) watchOldMaster() {
	m.mu.Lock()
	f := m.oldMaster
	m.mu.Unlock()
	if f == nil {
		return
	}
	if _, err := io.Copy(io.Discard, f); err != nil || m.stopping() {
		return // closed by stopWatchingOldMaster: this master is stopping
	}
	m.stopWatchingOldMaster()
	m.shared.oldMasterGone()
	m.collectLimits()
	m.log.Info().Msg("upgrade: the old master's workers are gone; their buckets and areas are free")
}

// stopWatchingOldMaster ends watchOldMaster.
func (m *Master) stopWatchingOldMaster() {
	m.mu.Lock()
	f := m.oldMaster
	m.oldMaster = nil
	m.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// upstreamCounts is the upstream counters of every worker, summed.
func (m *Master) upstreamCounts() []wire.Upstream {
	var out []wire.Upstream
	for _, s := range m.upstreamSnapshot() {
		out = append(out, wire.Upstream{Host: s.key.Host, Upstream: s.key.Upstream,
			Codes: s.codes, Buckets: slices.Clone(s.buckets[:]), SumNanos: int64(s.sum)})
	}
	return out
}

// seed adds an old master's upstream counts to the totals, as those of
// workers that are gone.
func (u *upstreamMonitor) seed(ws []wire.Upstream) {
	if u == nil || len(ws) == 0 {
		return
	}
	t := &u.totals
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addGoneLocked(ws)
}
