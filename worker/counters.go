package worker

import "unsafe"

// Counters is the block of counters of one series: atomics only, no Go
// pointers, a fixed size (CountersSize) and layout for one build of the
// binary. So it may live outside the Go heap: the supervisor lays the
// counters of every worker in memory it shares with them, where they
// outlive a worker that is killed, and reads them from the master.
type Counters struct{ c cell }

// CountersSize is the size in bytes of a Counters.
const CountersSize = int(unsafe.Sizeof(Counters{}))

// Stats reads the counters. Active, the requests in flight, is what was
// started and not finished: a process killed mid-request leaves it up.
func (c *Counters) Stats() Stats { return c.c.stats() }

// AddCodes adds the answers counted by status code to dst: dst[code] for
// codes 100 to 599; for the few a series cannot count one by one (more
// than 32 distinct codes), dst[1] to dst[5] by class (1xx to 5xx), and
// dst[0] for codes outside 100-599. The keys below 100 are never codes.
func (c *Counters) AddCodes(dst map[int]uint64) { c.c.addCodes(dst) }

// CounterAllocator returns the zeroed (or earlier used by the same series)
// counters of a series, or nil to have the manager allocate them itself.
// The manager calls it once per series, under its lock, when a host,
// tenant or server first needs them, and keeps them for its lifetime.
type CounterAllocator func(SeriesKey) *Counters

// SetCounterAllocator makes the manager take the counters of series it has
// not yet counted from f; nil restores its own allocation. Set it before
// registering hosts or starting servers: series counted already keep their
// counters.
func (m *serverManager) SetCounterAllocator(f CounterAllocator) {
	m.mu.Lock()
	m.newCounters = f
	m.mu.Unlock()
}

// newCellLocked returns the counters of a series not yet counted.
func (m *serverManager) newCellLocked(k SeriesKey) *cell {
	if m.newCounters != nil {
		if c := m.newCounters(k); c != nil {
			return &c.c
		}
	}
	return new(cell)
}
