package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// UpstreamKey names one upstream of one proxy: the proxy's name (a host's
// proxy is named after the host) and the upstream's address.
type UpstreamKey struct {
	Host, Upstream string
}

// UpstreamStats are the counters of one upstream.
type UpstreamStats struct {
	// Codes counts tries by the status code the upstream answered; a try
	// that got no answer counts as the 502 or 504 it would have given, or
	// as the 400, 408 or 413 of the client's failure that ended it.
	Codes map[int]uint64
	// Latency is the time from sending a request to the upstream's
	// response headers (tries without an answer excluded).
	Latency worker.Histogram
	// Active is the requests in flight on the upstream, response bodies
	// still streaming included.
	Active int64
	// Listed: the upstream belongs to a live proxy now; Up is meaningful
	// only then.
	Listed bool
	// Up: the upstream is in rotation (no failed health check, no passive
	// marking). With several live proxies of one name, it is up in all.
	Up bool
}

// UpstreamMetrics keeps the counters of every upstream of the proxies that
// report to it. Counters live as long as it does, so they never go down,
// even for upstreams a reload removed.
type UpstreamMetrics struct {
	mu      sync.Mutex
	cells   map[UpstreamKey]*upstreamCell
	proxies map[*Proxy]struct{}
}

// DefaultUpstreamMetrics is where proxies report unless their config says
// otherwise; a supervisor's worker reads it for the admin endpoint.
var DefaultUpstreamMetrics = NewUpstreamMetrics()

// NewUpstreamMetrics returns an empty set of counters.
func NewUpstreamMetrics() *UpstreamMetrics {
	return &UpstreamMetrics{
		cells:   make(map[UpstreamKey]*upstreamCell),
		proxies: make(map[*Proxy]struct{}),
	}
}

// codeSlots are the status codes counted one by one: 100 to 599.
const codeSlots = 500

// upstreamCell holds one upstream's counters; every try adds to it with
// atomic adds only.
type upstreamCell struct {
	key     UpstreamKey
	codes   [codeSlots + 1]atomic.Uint64 // [code-100]; the last: any other code
	latency worker.LatencyCounter
	_       [64]byte
}

func (m *UpstreamMetrics) cell(k UpstreamKey) *upstreamCell {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cells[k]
	if c == nil {
		c = &upstreamCell{key: k}
		m.cells[k] = c
	}
	return c
}

func (m *UpstreamMetrics) track(p *Proxy) {
	m.mu.Lock()
	m.proxies[p] = struct{}{}
	m.mu.Unlock()
}

func (m *UpstreamMetrics) untrack(p *Proxy) {
	m.mu.Lock()
	delete(m.proxies, p)
	m.mu.Unlock()
}

// count adds one try that the upstream answered with code.
func (c *upstreamCell) count(code int) {
	i := code - 100
	if i < 0 || i >= codeSlots {
		i = codeSlots
	}
	c.codes[i].Add(1)
}

// observe adds the time the upstream took to answer.
func (c *upstreamCell) observe(d time.Duration) {
	c.latency.Observe(d)
}

// Snapshot returns a copy of every upstream's counters, and the state of
// the upstreams of the live proxies.
func (m *UpstreamMetrics) Snapshot() map[UpstreamKey]UpstreamStats {
	m.mu.Lock()
	cells := make([]*upstreamCell, 0, len(m.cells))
	for _, c := range m.cells {
		cells = append(cells, c)
	}
	proxies := make([]*Proxy, 0, len(m.proxies))
	for p := range m.proxies {
		proxies = append(proxies, p)
	}
	m.mu.Unlock()

	out := make(map[UpstreamKey]UpstreamStats, len(cells))
	for _, c := range cells {
		var s UpstreamStats
		for i := range c.codes {
			if n := c.codes[i].Load(); n > 0 {
				if s.Codes == nil {
					s.Codes = make(map[int]uint64)
				}
				code := i + 100
				if i == codeSlots {
					code = 0
				}
				s.Codes[code] += n
			}
		}
		s.Latency = c.latency.Load()
		out[c.key] = s
	}
	for _, p := range proxies {
		pool := p.pool.Load()
		for _, u := range pool.ups {
			k := UpstreamKey{Host: pool.cfg.Name, Upstream: u.addr}
			s := out[k]
			up := u.available()
			if s.Listed {
				up = up && s.Up
			}
			s.Listed, s.Up = true, up
			s.Active += u.inflight.Load()
			out[k] = s
		}
	}
	return out
}
