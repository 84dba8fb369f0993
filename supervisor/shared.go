package supervisor

import (
	"encoding/binary"
	"errors"
	"os"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// The master shares one memory region with all its workers (a memfd that
// every worker inherits and maps), so that what must be exact across
// processes is kept once, in memory the master owns and that outlives any
// worker:
//
//	header     magic, version, the sizes below, the hash seed of per-client
//	           tables, the series directory's lock and count, and which
//	           counter areas were ever used
//	buckets    one cache line per host or tenant limit: its GCRA
//	           theoretical arrival time (shm.GCRA), on CLOCK_MONOTONIC
//	directory  one record per metrics series (server, host, tenant), in the
//	           order workers first counted them; records are never removed
//	areas      one counters area per worker process: for every series of the
//	           directory, its worker.Counters. A process has its area to
//	           itself while it runs; the next process takes it over and keeps
//	           counting, so nothing a killed worker counted is lost
//	arena      per-client tables (shm.Table), in whole sets
//
// The master decides which bucket or table each limit uses (sharedMem.assign)
// and tells the workers in a "limits" message, right after the config and
// before every config push. A limit that did not change keeps its bucket,
// and so its state, across reloads, generations and worker restarts; a
// changed or new one gets a zeroed one; a bucket no running worker can use
// any more is freed. The workers add series to the directory themselves,
// under its lock, when they first count them.
//
// A binary upgrade hands the region on (shared_handover.go): the new
// master adopts the memfd, with the old one's bucket assignments, so that
// counters never go down and spent limits stay spent across it.

// Region layout constants.
const (
	shmMagic = 0x31524154534b4352 // "RCKSTAR1"
	// shmVersion changes with the layout below or with worker.Counters: a
	// new master of a binary upgrade adopts only a region of its own
	// version, and starts a fresh one otherwise.
	shmVersion = 1

	hdrMagic     = 0
	hdrVersion   = 8
	hdrBuckets   = 16
	hdrSeriesCap = 24
	hdrAreas     = 32
	hdrArenaSets = 40
	hdrCellSize  = 48
	hdrSeed      = 56
	hdrDirLock   = 128 // a cache line of its own
	hdrDirCount  = 192
	hdrAreaUsed  = 256 // one word per area: 1 once a process used it
	headerBytes  = 16 << 10

	// maxAreas is the number of area flags the header holds.
	maxAreas = (headerBytes - hdrAreaUsed) / 8
	// recordBytes is the size of a directory record: three lengths, then
	// the server, host and tenant names.
	recordBytes = 512
	recordHead  = 8
)

// Errors of the shared region.
var (
	// ErrSharedFull: the region has no room left for a limit's bucket or
	// table; it is sized when the master starts, with room to grow, and a
	// restart sizes it anew.
	ErrSharedFull = errors.New("supervisor: shared memory region is full")
	// errBadShared: an inherited region is not one this binary laid out.
	errBadShared = errors.New("supervisor: shared memory region has an unknown layout")
)

// shmLayout is the size of every part of the region and where it starts.
type shmLayout struct {
	buckets, seriesCap, areas, arenaSets, cellSize int

	bucketsOff, dirOff, areasOff, arenaOff, size int
}

// place computes the offsets; every part starts on a page.
func (l *shmLayout) place() {
	page := os.Getpagesize()
	up := func(n int) int { return (n + page - 1) &^ (page - 1) }
	l.bucketsOff = up(headerBytes)
	l.dirOff = up(l.bucketsOff + l.buckets*shm.Align)
	l.areasOff = up(l.dirOff + l.seriesCap*recordBytes)
	l.arenaOff = up(l.areasOff + l.areas*l.seriesCap*l.cellSize)
	l.size = up(l.arenaOff + l.arenaSets*shm.SetBytes)
}

func (l *shmLayout) bucketOff(i int) int      { return l.bucketsOff + i*shm.Align }
func (l *shmLayout) recordOff(i int) int      { return l.dirOff + i*recordBytes }
func (l *shmLayout) cellOff(area, i int) int  { return l.areasOff + (area*l.seriesCap+i)*l.cellSize }
func (l *shmLayout) setOff(set int) int       { return l.arenaOff + set*shm.SetBytes }
func (l *shmLayout) tableWords(sets int) int  { return sets * shm.SetBytes / 8 }
func (l *shmLayout) areaUsedOff(area int) int { return hdrAreaUsed + 8*area }

// layoutFor sizes a region for cfg, with room for the hosts, tenants and
// limits to grow by reloads: four times what cfg needs, and never less
// than a comfortable minimum. Untouched pages cost no memory.
func layoutFor(cfg *config.Config) shmLayout {
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
	l := shmLayout{
		buckets:   max(1024, 4*limits),
		seriesCap: max(4096, 4*series),
		areas:     min(max(16, 4*workerCount(cfg)), maxAreas),
		arenaSets: max(1<<16, 2*sets+1<<14),
		cellSize:  shm.AlignUp(worker.CountersSize),
	}
	l.place()
	return l
}

// writeHeader records l in the region's header.
func writeHeader(r *shm.Region, l shmLayout, seed uint64) {
	r.Uint64(hdrVersion).Store(shmVersion)
	r.Uint64(hdrBuckets).Store(uint64(l.buckets))
	r.Uint64(hdrSeriesCap).Store(uint64(l.seriesCap))
	r.Uint64(hdrAreas).Store(uint64(l.areas))
	r.Uint64(hdrArenaSets).Store(uint64(l.arenaSets))
	r.Uint64(hdrCellSize).Store(uint64(l.cellSize))
	r.Uint64(hdrSeed).Store(seed)
	r.Uint64(hdrMagic).Store(shmMagic) // last: the header is complete
}

// readHeader reads the layout of an inherited region and checks that it
// fits the region and this binary.
func readHeader(r *shm.Region) (shmLayout, uint64, error) {
	if r.Size() < headerBytes || r.Uint64(hdrMagic).Load() != shmMagic || r.Uint64(hdrVersion).Load() != shmVersion {
		return shmLayout{}, 0, errBadShared
	}
	get := func(off int) int { return int(min(r.Uint64(off).Load(), 1<<40)) }
	l := shmLayout{
		buckets:   get(hdrBuckets),
		seriesCap: get(hdrSeriesCap),
		areas:     get(hdrAreas),
		arenaSets: get(hdrArenaSets),
		cellSize:  get(hdrCellSize),
	}
	l.place()
	if l.size > r.Size() || l.areas > maxAreas || l.cellSize != shm.AlignUp(worker.CountersSize) {
		return shmLayout{}, 0, errBadShared
	}
	return l, r.Uint64(hdrSeed).Load(), nil
}

// limitID names a limit: its bucket and its settings. A limit whose
// settings change is another limit, with a fresh bucket.
type limitID struct {
	scope, name string
	limit       worker.RateLimitConfig
}

// limitSlot is where one limit keeps its state, as the "limits" message
// tells the workers: a bucket, or for a per-client limit a table of Sets
// sets from Set.
type limitSlot struct {
	Scope  string                 `json:"scope"`
	Name   string                 `json:"name"`
	Limit  worker.RateLimitConfig `json:"limit"`
	Bucket int                    `json:"bucket"` // -1 for a per-client limit
	Set    int                    `json:"set,omitempty"`
	Sets   int                    `json:"sets,omitempty"`
}

func (s limitSlot) id() limitID { return limitID{s.Scope, s.Name, s.Limit} }

// limitsBody is the body of a "limits" message.
type limitsBody struct {
	Limits []limitSlot `json:"limits"`
}

// configLimits lists cfg's limits.
func configLimits(cfg *config.Config) []limitID {
	var out []limitID
	for _, h := range cfg.Hosts {
		if h.RateLimit != nil {
			out = append(out, limitID{worker.ScopeHost, h.Hostname, *h.RateLimit.Worker()})
		}
	}
	for _, t := range cfg.Tenants {
		if t.RateLimit != nil {
			out = append(out, limitID{worker.ScopeTenant, t.ID, *t.RateLimit.Worker()})
		}
	}
	return out
}

// encodeRecord writes k into a directory record; false if it does not fit.
func encodeRecord(b []byte, k worker.SeriesKey) bool {
	n := len(k.Server) + len(k.Host) + len(k.Tenant)
	if n > recordBytes-recordHead {
		return false
	}
	binary.LittleEndian.PutUint16(b[0:], uint16(len(k.Server)))
	binary.LittleEndian.PutUint16(b[2:], uint16(len(k.Host)))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(k.Tenant)))
	p := recordHead
	p += copy(b[p:], k.Server)
	p += copy(b[p:], k.Host)
	copy(b[p:], k.Tenant)
	return true
}

// decodeRecord reads a directory record; false if it is malformed.
func decodeRecord(b []byte) (worker.SeriesKey, bool) {
	a := int(binary.LittleEndian.Uint16(b[0:]))
	h := int(binary.LittleEndian.Uint16(b[2:]))
	t := int(binary.LittleEndian.Uint16(b[4:]))
	if a+h+t > recordBytes-recordHead {
		return worker.SeriesKey{}, false
	}
	p := recordHead
	return worker.SeriesKey{
		Server: string(b[p : p+a]),
		Host:   string(b[p+a : p+a+h]),
		Tenant: string(b[p+a+h : p+a+h+t]),
	}, true
}
