package worker

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the latency histogram's buckets; a
// last, implicit bucket counts everything slower.
var LatencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// NumBuckets is the number of latency buckets, the overflow bucket included.
const NumBuckets = len(LatencyBounds) + 1

// cell holds the counters of one (server, host, tenant) triple. Every
// request touches exactly one cell, with atomic adds only. Cells live as long
// as their manager, so counters never go down.
type cell struct {
	// The counters every request adds to come first, so that a fast
	// request touches two cache lines: started to buckets[0], and the slot
	// of its status code.

	// started counts requests begun; those in flight are started minus
	// those finished (the sum of codes and other), which costs one atomic
	// add per request instead of an increment and a decrement.
	started  atomic.Uint64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	latency  LatencyCounter
	// codes counts finished requests by status code, in an open-addressed
	// table: a slot holds code<<codeShift | count, 0 while free. A code
	// takes its slot at its first request (a compare-and-swap) and keeps
	// it for the cell's life.
	codes [codeSlots]atomic.Uint64
	// other counts, by class (1xx to 5xx), the requests whose code found
	// no free slot, and in [5] those with a code outside 100-599.
	other   [6]atomic.Uint64
	limited atomic.Uint64
	_       [64]byte // keep neighbouring cells off this one's cache lines
}

// codeSlots is how many distinct status codes a cell counts one by one
// (a power of two); codeShift places the code above its count.
const (
	codeSlots = 32
	codeShift = 48
	countMask = 1<<codeShift - 1
)

// begin counts a request as started; end counts it as finished.
func (c *cell) begin() { c.started.Add(1) }

// record counts a whole request that had no begin, such as one refused
// before a handler.
func (c *cell) record(status int, in, out int, d time.Duration) {
	c.begin()
	c.end(status, in, out, d)
}

// end counts a finished request, begun with begin.
func (c *cell) end(status int, in, out int, d time.Duration) {
	c.countCode(status)
	c.bytesIn.Add(uint64(in))
	c.bytesOut.Add(uint64(out))
	c.latency.Observe(d)
}

// countCode counts one answer with status code code: in the code's slot,
// found from code%codeSlots on (usually at once), else in other.
func (c *cell) countCode(code int) {
	if code < 100 || code > 599 {
		c.other[5].Add(1)
		return
	}
	tag := uint64(code) << codeShift
	i := code & (codeSlots - 1)
	for range codeSlots {
		slot := &c.codes[i]
		v := slot.Load()
		if v == 0 {
			if slot.CompareAndSwap(0, tag|1) {
				return
			}
			v = slot.Load() // another request took it, maybe for this code
		}
		if v&^countMask == tag {
			slot.Add(1)
			return
		}
		i = (i + 1) & (codeSlots - 1)
	}
	c.other[code/100-1].Add(1)
}

// LatencyCounter counts latencies into the LatencyBounds buckets with
// atomic adds only, for many goroutines at once; the zero value is empty.
// The worker's metrics and the proxy's upstream counters keep one each.
type LatencyCounter struct {
	sum     atomic.Uint64 // nanoseconds
	buckets [NumBuckets]atomic.Uint64
}

// Observe counts one latency (a negative one as 0).
func (l *LatencyCounter) Observe(d time.Duration) {
	l.buckets[bucketOf(d)].Add(1)
	l.sum.Add(uint64(max(d, 0)))
}

// Load returns a copy of the counts.
func (l *LatencyCounter) Load() Histogram {
	var h Histogram
	for i := range l.buckets {
		h.Counts[i] = l.buckets[i].Load()
	}
	h.Sum = time.Duration(l.sum.Load())
	return h
}

// bucketOf returns the index of the first bound d does not exceed, or
// len(LatencyBounds) for the overflow bucket: a check for the usual fast
// request, then a binary search.
func bucketOf(d time.Duration) int {
	if d <= LatencyBounds[0] {
		return 0
	}
	i, j := 1, len(LatencyBounds)
	for i < j {
		h := int(uint(i+j) >> 1)
		if LatencyBounds[h] < d {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

func (c *cell) stats() Stats {
	var s Stats
	// The finished counts first: a request is started before it finishes,
	// so reading started afterwards keeps Active from going negative.
	for i := range c.codes {
		if v := c.codes[i].Load(); v != 0 {
			s.Status[v>>codeShift/100-1] += v & countMask
		}
	}
	for i := range c.other {
		s.Status[i] += c.other[i].Load()
	}
	for _, n := range s.Status {
		s.Requests += n
	}
	s.BytesIn = c.bytesIn.Load()
	s.BytesOut = c.bytesOut.Load()
	s.Latency = c.latency.Load()
	s.RateLimited = c.limited.Load()
	s.Active = int64(c.started.Load() - s.Requests)
	return s
}

// addCodes adds the cell's counts by status code to dst: dst[code] for
// the codes 100-599 it counted one by one, dst[1] to dst[5] for the 1xx to
// 5xx answers whose code found no slot (more than codeSlots distinct
// codes), dst[0] for codes outside 100-599.
func (c *cell) addCodes(dst map[int]uint64) {
	for i := range c.codes {
		if v := c.codes[i].Load(); v != 0 {
			dst[int(v>>codeShift)] += v & countMask
		}
	}
	for i, k := range [...]int{1, 2, 3, 4, 5, 0} {
		if n := c.other[i].Load(); n != 0 {
			dst[k] += n
		}
	}
}

// SeriesKey names one series: the server's address, the host (DefaultHost
// for requests that matched no host) and the tenant ("" for none).
type SeriesKey struct {
	Server, Host, Tenant string
}

// DefaultHost is the host label of requests that matched no configured host.
const DefaultHost = "_"

// Histogram counts latencies into the LatencyBounds buckets.
type Histogram struct {
	// Counts[i] counts requests with latency <= LatencyBounds[i] (and above
	// the bound before); the last one counts the rest. Not cumulative.
	Counts [NumBuckets]uint64
	// Sum is the total of all latencies.
	Sum time.Duration
}

// Stats are the counters of a server, a host, a tenant or one series.
type Stats struct {
	// Requests answered (the sum of Status).
	Requests uint64
	// Status counts responses by class: [0] 1xx, [1] 2xx, [2] 3xx, [3] 4xx,
	// [4] 5xx, [5] other.
	Status [6]uint64
	// BytesIn counts request bytes (headers and body).
	BytesIn uint64
	// BytesOut counts response body bytes.
	BytesOut uint64
	// Latency is the handling time, from the request read to the handler's return.
	Latency Histogram
	// RateLimited counts requests refused with 429.
	RateLimited uint64
	// Active is, for a server, its open connections; for a host, a tenant or
	// a series, the requests in flight.
	Active int64
}

// Add adds o's counters to s.
func (s *Stats) Add(o Stats) {
	s.Requests += o.Requests
	for i := range s.Status {
		s.Status[i] += o.Status[i]
	}
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	for i := range s.Latency.Counts {
		s.Latency.Counts[i] += o.Latency.Counts[i]
	}
	s.Latency.Sum += o.Latency.Sum
	s.RateLimited += o.RateLimited
	s.Active += o.Active
}

// MetricsSnapshot is a copy of a manager's counters at one moment. The
// supervisor adds up the snapshots of all its workers with Add.
type MetricsSnapshot struct {
	// Series holds the finest counters, by (server, host, tenant).
	Series map[SeriesKey]Stats
	// Servers, Hosts and Tenants are Series summed by each label; a server's
	// Active is its open connections.
	Servers map[string]Stats
	Hosts   map[string]Stats
	Tenants map[string]Stats
}

// NewMetricsSnapshot returns an empty snapshot, ready for Add.
func NewMetricsSnapshot() MetricsSnapshot {
	return MetricsSnapshot{
		Series:  make(map[SeriesKey]Stats),
		Servers: make(map[string]Stats),
		Hosts:   make(map[string]Stats),
		Tenants: make(map[string]Stats),
	}
}

// Add adds o's counters into m, which must have been made by
// NewMetricsSnapshot or returned by Metrics.
func (m MetricsSnapshot) Add(o MetricsSnapshot) {
	for k, v := range o.Series {
		addTo(m.Series, k, v)
	}
	for k, v := range o.Servers {
		addTo(m.Servers, k, v)
	}
	for k, v := range o.Hosts {
		addTo(m.Hosts, k, v)
	}
	for k, v := range o.Tenants {
		addTo(m.Tenants, k, v)
	}
}

func addTo[K comparable](m map[K]Stats, k K, v Stats) {
	s := m[k]
	s.Add(v)
	m[k] = s
}

// addSeries adds one series and its share of the by-label sums.
func (m MetricsSnapshot) addSeries(k SeriesKey, s Stats) {
	addTo(m.Series, k, s)
	srv := s
	srv.Active = 0 // a server's Active is its connections, set apart
	addTo(m.Servers, k.Server, srv)
	addTo(m.Hosts, k.Host, s)
	if k.Tenant != "" {
		addTo(m.Tenants, k.Tenant, s)
	}
}
