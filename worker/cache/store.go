package cache

import (
	"bytes"
	"errors"
	"sync/atomic"
	"unsafe"

	"github.com/rockstar-dev/rockstar/netutil/shm"
)

// ErrTooSmall means memory given to NewStore cannot hold a store.
var ErrTooSmall = errors.New("cache: store memory is too small")

// MinStoreSize is the least memory a Store takes.
const MinStoreSize = 64 << 10

// The store's layout, in 8-byte words from the start of its memory:
//
//	header (hdrWords): lock, head, tail, then the counters
//	flights (flightSlots pairs): the keys being fetched, (hash, until)
//	index: sets of idxWays (hash, position+1) pairs
//	ring: the entries, back to back, oldest (tail) to newest (head)
//
// head and tail are logical byte positions in the ring that only grow;
// an entry at logical position L lies at L mod the ring's size, whole
// (an entry that would wrap is preceded by padding up to the ring's end).
const (
	hdrWords = 16
	wLock    = 0
	wHead    = 1
	wTail    = 2
	wHits    = 3
	wMisses  = 4
	wStores  = 5
	wEvicts  = 6
	wUsed    = 7 // bytes of live entries
	wEntries = 8 // live entries
	wPurged  = 9

	flightSlots = 64 // fetches under way at once that others wait for

	idxWays    = 8
	idxSetSize = 2 * idxWays // words
	bytesPerIx = 1024        // ring bytes per index entry
)

// An entry starts with entWords words, then its key, tags and body, each
// padded to 8 bytes; the whole entry is padded to entHeader bytes, and the
// ring's size is a multiple of it, so the space left at the ring's end is
// always room for a header (the padding entry) or nothing.
const (
	entWords  = 8
	eLen      = 0 // whole entry, bytes; an entry with hash 0 is padding
	eHash     = 1
	eDead     = 2
	eFresh    = 3 // shm.Now until which it is fresh
	eSWR      = 4 // until which it may be served stale while revalidated
	eSIE      = 5 // until which it may be served stale on an upstream error
	eStored   = 6 // shm.Now when stored
	eLens     = 7 // key length <<48 | tags length <<32 | body length (lens)
	entHeader = entWords * 8
)

// Stats are a store's counters.
type Stats struct {
	Hits, Misses, Stores, Evictions, Purged uint64
	// Bytes and Entries are what the store holds now; Size is its capacity.
	Bytes, Entries, Size uint64
}

// Entry is what a store keeps for one key: freshness times on the shared
// clock (shm.Now, nanoseconds), its tags, and the encoded response.
type Entry struct {
	Fresh, SWR, SIE, Stored int64
	Tags                    []byte // space-separated
	Body                    []byte // the encoded response (see encode.go)
}

// Store is a response store in one piece of memory, which may be shared by
// several processes (a file every worker maps): a ring of entries with a
// hash index, under one lock (shm.Lock) that each operation holds for a
// copy of one entry. The oldest entries are evicted first when the ring is
// full (FIFO, like a log). A zeroed memory is an empty store, so processes
// sharing one need no set-up step.
type Store struct {
	mem   []byte
	w     []uint64
	sets  uint64
	idx   []uint64
	fl    []uint64 // the flights: (hash, until) pairs
	ring  []byte
	owner uint64
	alive func(uint64) bool
}

// NewStore lays a store over mem (8-byte aligned, at least MinStoreSize);
// owner and alive are for the lock (shm.OwnerID, shm.Alive; 1 and nil in
// one process).
func NewStore(mem []byte, owner uint64, alive func(uint64) bool) (*Store, error) {
	if len(mem) < MinStoreSize || uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, ErrTooSmall
	}
	n := len(mem) / 8
	w := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), n)
	sets := uint64(max(1, len(mem)/bytesPerIx/idxWays))
	idxEnd := hdrWords + 2*flightSlots + int(sets)*idxSetSize
	ringEnd := idxEnd*8 + (n*8-idxEnd*8)/entHeader*entHeader
	if owner == 0 {
		owner = 1
	}
	return &Store{
		mem: mem, w: w, sets: sets,
		idx:   w[hdrWords+2*flightSlots : idxEnd],
		fl:    w[hdrWords : hdrWords+2*flightSlots],
		ring:  mem[idxEnd*8 : ringEnd],
		owner: owner, alive: alive,
	}, nil
}

func (s *Store) word(p *uint64) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(p)) }

func (s *Store) lock()   { shm.Lock(s.word(&s.w[wLock]), s.owner, s.alive) }
func (s *Store) unlock() { shm.Unlock(s.word(&s.w[wLock])) }

// Hash is the store's hash of a key: FNV-1a, the same in every process,
// never 0.
func Hash(key []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

func pad8(n int) int { return (n + 7) &^ 7 }

// at returns the words of the entry at logical position pos.
func (s *Store) at(pos uint64) []uint64 {
	p := pos % uint64(len(s.ring))
	return unsafe.Slice((*uint64)(unsafe.Pointer(&s.ring[p])), entWords)
}

func (s *Store) entryBytes(pos uint64, n int) []byte {
	p := int(pos % uint64(len(s.ring)))
	return s.ring[p : p+n]
}

func lens(e []uint64) (key, tags, body int) {
	v := e[eLens]
	return int(v >> 48), int(v >> 32 & 0xffff), int(v & 0xffffffff)
}

// find returns the index slot (word offset in idx) that holds key, or -1.
func (s *Store) find(key []byte, h uint64) int {
	set := int(h%s.sets) * idxSetSize
	for i := 0; i < idxWays; i++ {
		o := set + 2*i
		if s.idx[o] != h || s.idx[o+1] == 0 {
			continue
		}
		pos := s.idx[o+1] - 1
		if pos < s.w[wTail] {
			continue
		}
		e := s.at(pos)
		if e[eHash] != h || e[eDead] != 0 {
			continue
		}
		kl, _, _ := lens(e)
		if bytes.Equal(s.entryBytes(pos+entHeader, kl), key) {
			return o
		}
	}
	return -1
}

// Get copies the entry of key into e (reusing e's buffers) and reports
// whether there is one. It does not count a hit or miss (Count does).
func (s *Store) Get(key []byte, e *Entry) bool {
	h := Hash(key)
	s.lock()
	defer s.unlock()
	o := s.find(key, h)
	if o < 0 {
		return false
	}
	pos := s.idx[o+1] - 1
	w := s.at(pos)
	kl, tl, bl := lens(w)
	e.Fresh, e.SWR, e.SIE, e.Stored = int64(w[eFresh]), int64(w[eSWR]), int64(w[eSIE]), int64(w[eStored])
	off := pos + entHeader + uint64(pad8(kl))
	e.Tags = append(e.Tags[:0], s.entryBytes(off, tl)...)
	e.Body = append(e.Body[:0], s.entryBytes(off+uint64(pad8(tl)), bl)...)
	return true
}

// Count adds one hit or one miss to the store's counters.
func (s *Store) Count(hit bool) {
	if hit {
		s.word(&s.w[wHits]).Add(1)
	} else {
		s.word(&s.w[wMisses]).Add(1)
	}
}

// MaxEntry is the largest entry (key, tags and body) the store keeps.
func (s *Store) MaxEntry() int { return len(s.ring) / 8 }

// Put stores e under key, replacing what key had, evicting the oldest
// entries to make room; false when e is larger than MaxEntry.
func (s *Store) Put(key []byte, e *Entry) bool {
	kl, tl, bl := len(key), len(e.Tags), len(e.Body)
	n := (entHeader + pad8(kl) + pad8(tl) + pad8(bl) + entHeader - 1) / entHeader * entHeader
	if n > s.MaxEntry() || kl > 0xffff || tl > 0xffff {
		return false
	}
	h := Hash(key)
	s.lock()
	defer s.unlock()
	if o := s.find(key, h); o >= 0 {
		s.kill(s.idx[o+1] - 1)
		s.idx[o], s.idx[o+1] = 0, 0
	}
	size := uint64(len(s.ring))
	if p := s.w[wHead] % size; size-p < uint64(n) {
		s.reserve(size - p)
		w := s.at(s.w[wHead])
		w[eLen], w[eHash] = size-p, 0
		s.w[wHead] += size - p
	}
	s.reserve(uint64(n))
	pos := s.w[wHead]
	w := s.at(pos)
	w[eLen], w[eHash], w[eDead] = uint64(n), h, 0
	w[eFresh], w[eSWR], w[eSIE], w[eStored] = uint64(e.Fresh), uint64(e.SWR), uint64(e.SIE), uint64(e.Stored)
	w[eLens] = uint64(kl)<<48 | uint64(tl)<<32 | uint64(bl)
	off := pos + entHeader
	copy(s.entryBytes(off, kl), key)
	off += uint64(pad8(kl))
	copy(s.entryBytes(off, tl), e.Tags)
	off += uint64(pad8(tl))
	copy(s.entryBytes(off, bl), e.Body)
	s.w[wHead] += uint64(n)
	s.index(h, pos)
	s.w[wUsed] += uint64(n)
	s.w[wEntries]++
	s.w[wStores]++
	return true
}

// index points a slot of h's set at pos: a free or stale slot, else the
// slot of the oldest entry of the set, which is evicted.
func (s *Store) index(h, pos uint64) {
	set := int(h%s.sets) * idxSetSize
	victim, oldest := -1, ^uint64(0)
	for i := 0; i < idxWays; i++ {
		o := set + 2*i
		p := s.idx[o+1]
		if p == 0 || p-1 < s.w[wTail] || s.at(p - 1)[eDead] != 0 || s.at(p - 1)[eHash] != s.idx[o] {
			victim = o
			break
		}
		if p < oldest {
			victim, oldest = o, p
		}
	}
	if p := s.idx[victim+1]; p != 0 && p-1 >= s.w[wTail] && s.at(p - 1)[eDead] == 0 && s.at(p - 1)[eHash] == s.idx[victim] {
		s.kill(p - 1)
		s.w[wEvicts]++
	}
	s.idx[victim], s.idx[victim+1] = h, pos+1
}

// kill marks the live entry at pos dead.
func (s *Store) kill(pos uint64) {
	w := s.at(pos)
	if w[eDead] != 0 || w[eHash] == 0 {
		return
	}
	w[eDead] = 1
	s.w[wUsed] -= w[eLen]
	s.w[wEntries]--
}

// reserve evicts the oldest entries until n bytes are free at the head.
func (s *Store) reserve(n uint64) {
	size := uint64(len(s.ring))
	for s.w[wHead]+n-s.w[wTail] > size {
		w := s.at(s.w[wTail])
		if w[eHash] != 0 && w[eDead] == 0 {
			s.kill(s.w[wTail])
			s.w[wEvicts]++
		}
		l := w[eLen]
		if l == 0 { // never written: a torn store; start over
			s.w[wTail] = s.w[wHead]
			return
		}
		s.w[wTail] += l
	}
}

// purgeChunk is how many bytes of the ring Purge walks per hold of the
// lock, so that the workers' lookups wait for a slice of it, not all.
const purgeChunk = 256 << 10

// Purge removes every live entry for which match(key, tags) is true and
// returns how many it removed. It walks the entries that were in the
// store when it began, purgeChunk bytes per hold of the lock; entries
// stored meanwhile are not looked at.
func (s *Store) Purge(match func(key, tags []byte) bool) int {
	s.lock()
	defer s.unlock()
	n := 0
	pos, end := s.w[wTail], s.w[wHead]
	for {
		pos = max(pos, s.w[wTail]) // what was evicted meanwhile is gone anyway
		for walked := 0; pos < end && walked < purgeChunk; {
			w := s.at(pos)
			l := w[eLen]
			if l == 0 {
				pos = end
				break
			}
			if w[eHash] != 0 && w[eDead] == 0 {
				kl, tl, _ := lens(w)
				key := s.entryBytes(pos+entHeader, kl)
				tags := s.entryBytes(pos+entHeader+uint64(pad8(kl)), tl)
				if match(key, tags) {
					s.kill(pos)
					n++
				}
			}
			pos += l
			walked += int(l)
		}
		if pos >= end {
			break
		}
		s.unlock()
		s.lock()
	}
	s.w[wPurged] += uint64(n)
	return n
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.lock()
	defer s.unlock()
	return Stats{
		Hits: s.word(&s.w[wHits]).Load(), Misses: s.word(&s.w[wMisses]).Load(), Stores: s.w[wStores],
		Evictions: s.w[wEvicts], Purged: s.w[wPurged],
		Bytes: s.w[wUsed], Entries: s.w[wEntries], Size: uint64(len(s.ring)),
	}
}

// Claim records that this process fetches key until until (shm.Now
// nanoseconds), so that the other processes sharing the store wait for it
// (Fetching) instead of fetching it too; false when another fetch of key
// is under way. With every slot taken it claims nothing and returns true.
func (s *Store) Claim(key []byte, now, until int64) bool {
	h := Hash(key)
	s.lock()
	defer s.unlock()
	free := -1
	for i := 0; i < len(s.fl); i += 2 {
		if s.fl[i] == h && int64(s.fl[i+1]) > now {
			return false
		}
		if free < 0 && int64(s.fl[i+1]) <= now {
			free = i
		}
	}
	if free >= 0 {
		s.fl[free], s.fl[free+1] = h, uint64(until)
	}
	return true
}

// Fetching reports whether a claim on key holds at now.
func (s *Store) Fetching(key []byte, now int64) bool {
	h := Hash(key)
	s.lock()
	defer s.unlock()
	for i := 0; i < len(s.fl); i += 2 {
		if s.fl[i] == h && int64(s.fl[i+1]) > now {
			return true
		}
	}
	return false
}

// Release ends the claims on key.
func (s *Store) Release(key []byte) {
	h := Hash(key)
	s.lock()
	defer s.unlock()
	for i := 0; i < len(s.fl); i += 2 {
		if s.fl[i] == h {
			s.fl[i], s.fl[i+1] = 0, 0
		}
	}
}
