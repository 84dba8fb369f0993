package shm

import "sync/atomic"

// GCRA is a rate limit as the generic cell rate algorithm keeps it: a
// bucket is one int64, the theoretical arrival time (TAT) of its next
// request, and a request at now passes if the bucket, advanced by one
// Interval, stays within Tolerance of now. Over any T nanoseconds a bucket
// admits at most Tolerance/Interval + T/Interval requests.
//
// Both a single bucket in one word (Allow) and the entries of a Table take
// their step here. Times are nanoseconds on one clock that every user of
// a bucket shares (Mono for buckets in a region), and positive: a fresh
// bucket holds 0.
type GCRA struct {
	// Interval is the emission interval: a request every Interval on
	// average.
	Interval int64
	// Tolerance is how far past now a bucket's TAT may run:
	// Tolerance/Interval requests at once.
	Tolerance int64
}

// step is one request at now to a bucket whose TAT is tat: the bucket's
// TAT if it passes, and by how much it would overrun the tolerance (over
// > 0: it is refused, and one would pass over nanoseconds later).
func (g GCRA) step(tat, now int64) (next, over int64) {
	next = max(tat, now) + g.Interval
	return next, next - now - g.Tolerance
}

// Allow reports whether a request at now passes the bucket whose TAT is
// in tat, a word that may live in memory shared by processes (updated by
// compare-and-swap, without a lock); if not, wait is how long in
// nanoseconds until one would. It does not allocate.
func (g GCRA) Allow(tat *atomic.Int64, now int64) (ok bool, wait int64) {
	for {
		old := tat.Load()
		next, over := g.step(old, now)
		if over > 0 {
			return false, over
		}
		if tat.CompareAndSwap(old, next) {
			return true, 0
		}
	}
}
