package supervisor

import (
	"math"
	"sync"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// trafficInterval is how often the master samples the shared counters for
// the rates /status shows.
const trafficInterval = time.Second

// Traffic is the traffic part of Status: totals and rates per host and per
// tenant over the last sampling interval, from the counters every worker
// shares with the master (exited workers' included).
type Traffic struct {
	// Seq numbers the samples; the status page shows which one it shows.
	Seq uint64 `json:"seq"`
	// At is when the sample was taken.
	At time.Time `json:"at"`
	// Interval is the time between this sample and the one before, in seconds.
	Interval float64 `json:"interval_seconds"`
	// Hosts are by host name ("_" for requests that matched no host).
	Hosts map[string]Rates `json:"hosts"`
	// Tenants are by tenant ID.
	Tenants map[string]Rates `json:"tenants"`
}

// Rates are one host's or tenant's totals and rates. Rates are per second,
// rounded to one decimal, as the status page shows them.
type Rates struct {
	// Tenant is a host's tenant; "" for a tenant or a host without one.
	Tenant string `json:"tenant,omitempty"`
	// Requests and RateLimited are totals since the master started.
	Requests    uint64 `json:"requests_total"`
	RateLimited uint64 `json:"rate_limited_total"`
	// RPS is requests answered per second.
	RPS float64 `json:"requests_per_second"`
	// ClientErrors and ServerErrors are 4xx and 5xx answers per second
	// (the 429s of rate limits are among the 4xx).
	ClientErrors float64 `json:"4xx_per_second"`
	ServerErrors float64 `json:"5xx_per_second"`
	// ErrorRate is the percentage of answers in the interval that were 5xx.
	ErrorRate float64 `json:"error_percent"`
	// Limited is rate-limit refusals (429) per second.
	Limited float64 `json:"rate_limited_per_second"`
}

// trafficCounts are the counters a rate is computed from.
type trafficCounts struct{ requests, c4xx, c5xx, limited uint64 }

func (c *trafficCounts) add(s worker.Stats) {
	c.requests += s.Requests
	c.c4xx += s.Status[3]
	c.c5xx += s.Status[4]
	c.limited += s.RateLimited
}

// trafficRates turns successive samples into Traffic.
type trafficRates struct {
	mu      sync.Mutex
	at      time.Time
	hosts   map[string]trafficCounts
	tenants map[string]trafficCounts
	last    *Traffic
}

// trafficLoop samples every trafficInterval until the master stops.
func (m *Master) trafficLoop() {
	t := time.NewTicker(trafficInterval)
	defer t.Stop()
	m.sampleTraffic()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
			m.sampleTraffic()
		}
	}
}

// sampleTraffic reads the shared counters and computes the rates since the
// sample before.
func (m *Master) sampleTraffic() {
	if m.shared == nil {
		return
	}
	now := time.Now()
	snap := m.shared.snapshot(nil)
	hostTenant := make(map[string]string)
	hosts := make(map[string]trafficCounts)
	tenants := make(map[string]trafficCounts)
	m.mu.Lock()
	for _, h := range m.cfg.Hosts {
		hosts[h.Hostname] = trafficCounts{}
		hostTenant[h.Hostname] = h.Tenant
	}
	for _, t := range m.cfg.Tenants {
		tenants[t.ID] = trafficCounts{}
	}
	m.mu.Unlock()
	for k, s := range snap {
		c := hosts[k.Host]
		c.add(s)
		hosts[k.Host] = c
		if k.Tenant != "" {
			hostTenant[k.Host] = k.Tenant
			c := tenants[k.Tenant]
			c.add(s)
			tenants[k.Tenant] = c
		}
	}

	tr := &m.traffic
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := &Traffic{At: now, Hosts: make(map[string]Rates, len(hosts)), Tenants: make(map[string]Rates, len(tenants))}
	if tr.last != nil {
		out.Seq = tr.last.Seq + 1
		out.Interval = now.Sub(tr.at).Seconds()
	}
	for h, c := range hosts {
		r := rates(c, tr.hosts[h], out.Interval)
		r.Tenant = hostTenant[h]
		out.Hosts[h] = r
	}
	for t, c := range tenants {
		out.Tenants[t] = rates(c, tr.tenants[t], out.Interval)
	}
	tr.at, tr.hosts, tr.tenants, tr.last = now, hosts, tenants, out
}

// rates is cur against prev over secs seconds (no rates for the first sample).
func rates(cur, prev trafficCounts, secs float64) Rates {
	r := Rates{Requests: cur.requests, RateLimited: cur.limited}
	if secs <= 0 {
		return r
	}
	per := func(a, b uint64) float64 {
		if a < b {
			return 0
		}
		return round1(float64(a-b) / secs)
	}
	r.RPS = per(cur.requests, prev.requests)
	r.ClientErrors = per(cur.c4xx, prev.c4xx)
	r.ServerErrors = per(cur.c5xx, prev.c5xx)
	r.Limited = per(cur.limited, prev.limited)
	if n := cur.requests - prev.requests; cur.requests > prev.requests && cur.c5xx >= prev.c5xx {
		r.ErrorRate = round1(100 * float64(cur.c5xx-prev.c5xx) / float64(n))
	}
	return r
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// currentTraffic returns the last sample; nil before the first.
func (m *Master) currentTraffic() *Traffic {
	m.traffic.mu.Lock()
	defer m.traffic.mu.Unlock()
	return m.traffic.last
}
