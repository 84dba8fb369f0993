package supervisor

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"strconv"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/rockstar-dev/rockstar/worker"
)

// The admin endpoint's /metrics: one exposition for the whole server. The
// HTTP counters come from the region the master shares with its workers,
// where every worker counts each request before its response is written
// (worker.hostState.serve counts, then fasthttp writes). So a request
// answered before a scrape began is in that scrape, and what a worker
// counted stays counted after it exits or is killed: the counters never go
// down while the master runs, nor across a binary upgrade, which hands the
// region and the master's own counts to the new master
// (shared_handover.go).

var (
	descRequests = prometheus.NewDesc("rockstar_http_requests_total",
		"HTTP requests answered, by server (listen address), host, tenant, status code and its class.",
		[]string{"server", "host", "tenant", "code", "class"}, nil)
	descDuration = prometheus.NewDesc("rockstar_http_request_duration_seconds",
		"Time from a request read to its handler's return, by host.",
		[]string{"host"}, nil)
	descBytesIn = prometheus.NewDesc("rockstar_http_bytes_received_total",
		"Request bytes (headers and body) received, by host.",
		[]string{"host"}, nil)
	descBytesOut = prometheus.NewDesc("rockstar_http_bytes_sent_total",
		"Response body bytes sent, by host.",
		[]string{"host"}, nil)
	descLimited = prometheus.NewDesc("rockstar_rate_limited_total",
		"Requests refused with 429 by a rate limit, by host and tenant.",
		[]string{"host", "tenant"}, nil)
	descActive = prometheus.NewDesc("rockstar_active_connections",
		"Open client connections, by server, as of the workers' last health answers.",
		[]string{"server"}, nil)
	descWorkers = prometheus.NewDesc("rockstar_workers",
		"Worker processes by state.",
		[]string{"state"}, nil)
	descRestarts = prometheus.NewDesc("rockstar_worker_restarts_total",
		"Unexpected worker exits that were restarted.", nil, nil)
	descReloads = prometheus.NewDesc("rockstar_config_reloads_total",
		"Config reloads by result.", []string{"result"}, nil)
)

// statusClasses are the class label of worker.Stats.Status's indices.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// codeLabels are the code and class labels of the keys of
// worker.Counters.AddCodes: codes 100-599 are themselves; the keys below
// 100 are what could not be counted by code, "other" within their class.
func codeLabels(k int) (code, class string) {
	switch {
	case k >= 100 && k <= 599:
		return strconv.Itoa(k), statusClasses[k/100-1]
	case k >= 1 && k <= 5:
		return "other", statusClasses[k-1]
	}
	return "other", statusClasses[5]
}

// metricsHandler serves /metrics in the Prometheus text format: the
// master's collector, then what each of extra writes, which must be whole
// metric families in the same format. Other parts of the server add their
// series that way from admin.go, such as the reverse proxy's upstream
// series (writeUpstreamMetrics, upstream_metrics.go).
func (m *Master) metricsHandler(extra ...func(io.Writer)) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(masterCollector{m, buildLabels()}, cacheCollector{m})
	reg.MustRegister(runtimeCollectors()...)
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		families, err := reg.Gather()
		if err != nil {
			m.log.Error().Err(err).Msg("metrics: gather")
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, format)
		for _, f := range families {
			if err := enc.Encode(f); err != nil {
				m.log.Error().Err(err).Str("metric", f.GetName()).Msg("metrics: encode")
			}
		}
		for _, write := range extra {
			write(&buf)
		}
		w.Header().Set("Content-Type", string(format))
		_, _ = w.Write(buf.Bytes())
	})
}

// masterCollector emits const metrics built at scrape time.
type masterCollector struct {
	m     *Master
	build [3]string // rockstar_build_info's labels
}

func (c masterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descBytesIn, descBytesOut,
		descLimited, descActive, descWorkers, descRestarts, descReloads, descBuildInfo, descWorkerRSS,
		descClusterUp, descClusterFallbacks, descClusterFallback, descClusterLimits, descClusterTrips} {
		ch <- d
	}
}

func (c masterCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if m.shared != nil {
		codes := make(map[worker.SeriesKey]map[int]uint64)
		snap := m.shared.snapshot(codes)
		collectHTTP(ch, snap, codes)
	}

	st := m.Status()
	states := map[string]int{StateStarting: 0, StateReady: 0, StateDraining: 0}
	active := make(map[string]int64)
	for _, w := range append(st.Workers, st.Draining...) {
		if _, ok := states[w.State]; ok {
			states[w.State]++
		}
	}
	for _, h := range m.lastHealth() {
		for srv, n := range h.Servers {
			active[srv] += n
		}
	}
	for srv, n := range active {
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(n), srv)
	}
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(st.Restarts))
	for _, r := range []string{"success", "failure"} {
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(st.Reloads[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, c.build[0], c.build[1], c.build[2])
	collectWorkerProcs(ch, append(st.Workers, st.Draining...))
	m.collectCluster(ch)
}

// collectHTTP emits the HTTP series of a snapshot of the shared counters.
// The codes of a series are those it answered (at most 500 of them,
// 100-599), each a series of rockstar_http_requests_total from its first
// answer on.
func collectHTTP(ch chan<- prometheus.Metric, snap map[worker.SeriesKey]worker.Stats, codes map[worker.SeriesKey]map[int]uint64) {
	type hostTenant struct{ host, tenant string }
	hosts := make(map[string]worker.Stats)
	limited := make(map[hostTenant]uint64)
	for k, s := range snap {
		for c, n := range codes[k] {
			code, class := codeLabels(c)
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n),
				k.Server, k.Host, k.Tenant, code, class)
		}
		h := hosts[k.Host]
		h.Add(s)
		hosts[k.Host] = h
		limited[hostTenant{k.Host, k.Tenant}] += s.RateLimited
	}
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		s := hosts[h]
		buckets := make(map[float64]uint64, len(worker.LatencyBounds))
		var cum uint64
		for i, b := range worker.LatencyBounds {
			cum += s.Latency.Counts[i]
			buckets[b.Seconds()] = cum
		}
		count := cum + s.Latency.Counts[len(worker.LatencyBounds)]
		ch <- prometheus.MustNewConstHistogram(descDuration, count, s.Latency.Sum.Seconds(), buckets, h)
		ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(s.BytesIn), h)
		ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, float64(s.BytesOut), h)
	}
	for ht, n := range limited {
		ch <- prometheus.MustNewConstMetric(descLimited, prometheus.CounterValue, float64(n), ht.host, ht.tenant)
	}
}

// lastHealth returns the last health answer of every worker still running,
// draining ones included.
func (m *Master) lastHealth() []wire.Health {
	m.mu.Lock()
	gens := append([]*generation{m.cur}, m.draining...)
	m.mu.Unlock()
	var out []wire.Health
	for _, g := range gens {
		if g == nil {
			continue
		}
		for _, p := range g.procs() {
			p.mu.Lock()
			if p.health != nil && p.state != StateExited {
				out = append(out, *p.health)
			}
			p.mu.Unlock()
		}
	}
	return out
}
