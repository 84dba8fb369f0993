package shm

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Ways is the number of entries of a Table set: a client's entry can only be
// in the set its key hashes to, and a full set evicts one of its own.
const Ways = 8

// A set is setWords words (four cache lines): its lock, then the key
// hashes of its entries (0: free), their GCRA theoretical arrival times,
// and the times they were last used.
const (
	setWords = 32
	hashAt   = 1
	tatAt    = hashAt + Ways
	usedAt   = tatAt + Ways
)

// TableWords returns the number of uint64 words a Table for size clients
// takes: size rounded up to whole sets of Ways entries.
func TableWords(size int) int {
	return TableSets(size) * setWords
}

// TableSets returns the number of sets a Table for size clients has.
func TableSets(size int) int { return max((size+Ways-1)/Ways, 1) }

// SetBytes is the size of one set in bytes.
const SetBytes = setWords * 8

// TableConfig configures a Table.
type TableConfig struct {
	// Seed keys the hash of client keys, so that nobody can pick keys
	// that crowd one set. Every process sharing the table must use the same.
	Seed uint64
	// Interval and Tolerance are the GCRA emission interval and tolerance
	// in nanoseconds (GCRA): a request every Interval on average, and
	// Tolerance/Interval at once.
	Interval, Tolerance int64
	// Owner is this process's non-zero id in set locks: OwnerID (a bare
	// pid works too, without telling a reused pid from its owner).
	Owner uint64
	// Alive reports whether the process with an id still runs, so that a
	// lock its owner died holding is taken over (Alive in this package);
	// nil when only one process uses the table.
	Alive func(uint64) bool
}

// Table is a fixed-size table of GCRA buckets by client key, such as an IP
// address, in memory that may be shared by several processes (as nginx's
// limit_req_zone). Keys hash to one set of Ways entries, each guarded by a
// tiny lock. When a new key finds its set full, an entry whose bucket has
// refilled (so it holds nothing a fresh one would not) is reused first,
// else the least recently used entry of the set is evicted: LRU is per set,
// not over the whole table, and an evicted client starts over with a full
// burst. A table of size clients keeps every one of up to size clients
// whose keys spread evenly; the hash makes that likely, not certain.
//
// Table is safe for concurrent use by goroutines and by processes; Allow
// does not allocate.
type Table struct {
	words []uint64
	sets  uint64
	gcra  GCRA
	cfg   TableConfig
}

// NewTable lays a table over mem, whose length must be TableWords of the
// size wanted (a multiple of the set size) and whose words must be zero
// the first time any process uses it.
func NewTable(mem []uint64, cfg TableConfig) *Table {
	if len(mem) == 0 || len(mem)%setWords != 0 {
		panic("shm: table memory is not a whole number of sets")
	}
	if cfg.Owner == 0 {
		cfg.Owner = 1
	}
	return &Table{words: mem, sets: uint64(len(mem) / setWords), gcra: GCRA{cfg.Interval, cfg.Tolerance}, cfg: cfg}
}

// Allow reports whether a request from key at now (nanoseconds on the
// clock every user of the table shares, positive) passes the key's
// bucket; if not, wait is how long in nanoseconds until one would.
func (t *Table) Allow(key []byte, now int64) (ok bool, wait int64) {
	h := t.hash(key)
	set, _ := bits.Mul64(h, t.sets)
	s := t.words[set*setWords : (set+1)*setWords : (set+1)*setWords]
	lock := (*atomic.Uint64)(unsafe.Pointer(&s[0]))
	Lock(lock, t.cfg.Owner, t.cfg.Alive)
	way := -1
	for i := range Ways {
		if s[hashAt+i] == h {
			way = i
			break
		}
	}
	if way < 0 {
		way = victim(s, now)
		s[hashAt+way] = h
		s[tatAt+way] = 0
	}
	s[usedAt+way] = uint64(now)
	next, over := t.gcra.step(int64(s[tatAt+way]), now)
	if over > 0 {
		Unlock(lock)
		return false, over
	}
	s[tatAt+way] = uint64(next)
	Unlock(lock)
	return true, 0
}

// victim picks the entry of set s a new key takes: a free one, else one
// whose bucket is full again (its theoretical arrival time has passed),
// else the least recently used.
func victim(s []uint64, now int64) int {
	lru := 0
	for i := range Ways {
		if s[hashAt+i] == 0 {
			return i
		}
	}
	for i := range Ways {
		if int64(s[tatAt+i]) <= now {
			return i
		}
		if s[usedAt+i] < s[usedAt+lru] {
			lru = i
		}
	}
	return lru
}

// hash is a seeded 64-bit hash of key, never 0 (which marks a free entry).
func (t *Table) hash(key []byte) uint64 {
	const k0, k1, k2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	h := t.cfg.Seed ^ (uint64(len(key)) * k0)
	for len(key) >= 8 {
		h = mix(h^binary.LittleEndian.Uint64(key), k1)
		key = key[8:]
	}
	var tail uint64
	for i, c := range key {
		tail |= uint64(c) << (8 * i)
	}
	h = mix(h^tail, k2)
	h = mix(h, k0)
	if h == 0 {
		h = 1
	}
	return h
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
