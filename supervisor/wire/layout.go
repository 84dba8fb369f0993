package wire

import (
	"encoding/binary"
	"errors"
	"os"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/worker"
)

// The master shares one memory region with all its workers (a memfd that
// every worker inherits at the fd of FDShared and maps), so that what must
// be exact across processes is kept once, in memory the master owns and
// that outlives any worker:
//
//	header     magic, version, the sizes below, the hash seed of per-client
//	           tables, the series directory's lock and count, and which
//	           counter areas were ever used
//	buckets    one cache line per host or tenant limit: its GCRA
//	           theoretical arrival time (shm.GCRA), on CLOCK_MONOTONIC;
//	           for a cluster-scoped limit, a ClusterBucket (cluster.go)
//	directory  one record per metrics series (server, host, tenant), in the
//	           order workers first counted them; records are never removed
//	areas      one counters area per worker process: for every series of the
//	           directory, its worker.Counters. A process has its area to
//	           itself while it runs (EnvShmArea); the next process takes it
//	           over and keeps counting, so nothing a killed worker counted
//	           is lost
//	arena      per-client tables (shm.Table), in whole sets
//
// The master decides which bucket or table each limit uses and tells the
// workers in a MsgLimits message (LimitsBody), right after the config and
// before every config push. The workers add series to the directory
// themselves, under its lock (HdrDirLock), when they first count them.

// Region header: what is where, in bytes from the region's start.
const (
	// Magic marks a complete header: "RCKSTAR1".
	Magic = 0x31524154534b4352
	// Version changes with the layout below or with worker.Counters: a
	// new master of a binary upgrade adopts only a region of its own
	// version, and starts a fresh one otherwise.
	Version = 2

	HdrMagic     = 0
	HdrVersion   = 8
	HdrBuckets   = 16
	HdrSeriesCap = 24
	HdrAreas     = 32
	HdrArenaSets = 40
	HdrCellSize  = 48
	HdrSeed      = 56
	HdrDirLock   = 128 // a cache line of its own
	HdrDirCount  = 192
	HdrAreaUsed  = 256 // one word per area: 1 once a process used it
	HeaderBytes  = 16 << 10

	// MaxAreas is the number of area flags the header holds.
	MaxAreas = (HeaderBytes - HdrAreaUsed) / 8
	// RecordBytes is the size of a directory record: three lengths, then
	// the server, host and tenant names.
	RecordBytes = 512
	recordHead  = 8
)

// ErrBadShared: a region is not one this binary laid out, or a message
// names a place outside it.
var ErrBadShared = errors.New("wire: shared memory region has an unknown layout")

// Layout is the size of every part of the region and where it starts.
type Layout struct {
	// Buckets, SeriesCap, Areas and ArenaSets count the parts' entries;
	// CellSize is one series' counters, aligned.
	Buckets, SeriesCap, Areas, ArenaSets, CellSize int

	// Offsets and the whole size, computed by Place.
	BucketsOff, DirOff, AreasOff, ArenaOff, Size int
}

// Place computes the offsets; every part starts on a page.
func (l *Layout) Place() {
	page := os.Getpagesize()
	up := func(n int) int { return (n + page - 1) &^ (page - 1) }
	l.BucketsOff = up(HeaderBytes)
	l.DirOff = up(l.BucketsOff + l.Buckets*shm.Align)
	l.AreasOff = up(l.DirOff + l.SeriesCap*RecordBytes)
	l.ArenaOff = up(l.AreasOff + l.Areas*l.SeriesCap*l.CellSize)
	l.Size = up(l.ArenaOff + l.ArenaSets*shm.SetBytes)
}

// BucketOff is where bucket i starts.
func (l *Layout) BucketOff(i int) int { return l.BucketsOff + i*shm.Align }

// RecordOff is where directory record i starts.
func (l *Layout) RecordOff(i int) int { return l.DirOff + i*RecordBytes }

// CellOff is where series i's counters start in an area.
func (l *Layout) CellOff(area, i int) int { return l.AreasOff + (area*l.SeriesCap+i)*l.CellSize }

// SetOff is where set set of the arena starts.
func (l *Layout) SetOff(set int) int { return l.ArenaOff + set*shm.SetBytes }

// TableWords is the number of words of a table of sets sets.
func (l *Layout) TableWords(sets int) int { return sets * shm.SetBytes / 8 }

// AreaUsedOff is where area's used flag is.
func (l *Layout) AreaUsedOff(area int) int { return HdrAreaUsed + 8*area }

// CellSize is a series' counters in the region, aligned.
var CellSize = shm.AlignUp(worker.CountersSize)

// WriteHeader records l in the region's header.
func WriteHeader(r *shm.Region, l Layout, seed uint64) {
	r.Uint64(HdrVersion).Store(Version)
	r.Uint64(HdrBuckets).Store(uint64(l.Buckets))
	r.Uint64(HdrSeriesCap).Store(uint64(l.SeriesCap))
	r.Uint64(HdrAreas).Store(uint64(l.Areas))
	r.Uint64(HdrArenaSets).Store(uint64(l.ArenaSets))
	r.Uint64(HdrCellSize).Store(uint64(l.CellSize))
	r.Uint64(HdrSeed).Store(seed)
	r.Uint64(HdrMagic).Store(Magic) // last: the header is complete
}

// ReadHeader reads the layout of an inherited region and checks that it
// fits the region and this binary.
func ReadHeader(r *shm.Region) (Layout, uint64, error) {
	if r.Size() < HeaderBytes || r.Uint64(HdrMagic).Load() != Magic || r.Uint64(HdrVersion).Load() != Version {
		return Layout{}, 0, ErrBadShared
	}
	get := func(off int) int { return int(min(r.Uint64(off).Load(), 1<<40)) }
	l := Layout{
		Buckets:   get(HdrBuckets),
		SeriesCap: get(HdrSeriesCap),
		Areas:     get(HdrAreas),
		ArenaSets: get(HdrArenaSets),
		CellSize:  get(HdrCellSize),
	}
	l.Place()
	if l.Size > r.Size() || l.Areas > MaxAreas || l.CellSize != CellSize {
		return Layout{}, 0, ErrBadShared
	}
	return l, r.Uint64(HdrSeed).Load(), nil
}

// SetsFit reports whether sets sets from set lie inside an arena of total.
func SetsFit(set, sets, total int) bool { return set >= 0 && sets > 0 && sets <= total-set }

// EncodeRecord writes k into a directory record; false if it does not fit.
func EncodeRecord(b []byte, k worker.SeriesKey) bool {
	n := len(k.Server) + len(k.Host) + len(k.Tenant)
	if n > RecordBytes-recordHead {
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

// DecodeRecord reads a directory record; false if it is malformed.
func DecodeRecord(b []byte) (worker.SeriesKey, bool) {
	a := int(binary.LittleEndian.Uint16(b[0:]))
	h := int(binary.LittleEndian.Uint16(b[2:]))
	t := int(binary.LittleEndian.Uint16(b[4:]))
	if a+h+t > RecordBytes-recordHead {
		return worker.SeriesKey{}, false
	}
	p := recordHead
	return worker.SeriesKey{
		Server: string(b[p : p+a]),
		Host:   string(b[p+a : p+a+h]),
		Tenant: string(b[p+a+h : p+a+h+t]),
	}, true
}
