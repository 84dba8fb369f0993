package supervisor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// upstreamScrapeTimeout bounds the wait for the workers' upstream counters.
const upstreamScrapeTimeout = time.Second

// upstreamSeries is one upstream's counters summed over the workers.
type upstreamSeries struct {
	key     proxy.UpstreamKey
	codes   map[string]uint64
	buckets [worker.NumBuckets]uint64
	sum     time.Duration
	active  int64
	listed  bool
	up      bool
}

func (s *upstreamSeries) addCounters(w *wire.Upstream) {
	if s.codes == nil {
		s.codes = make(map[string]uint64)
	}
	for c, n := range w.Codes {
		s.codes[c] += n
	}
	for i := range min(len(w.Buckets), len(s.buckets)) {
		s.buckets[i] += w.Buckets[i]
	}
	s.sum += time.Duration(w.SumNanos)
}

// upstreamTotals keeps the counters of workers that are gone, so that the
// totals do not go down when a worker exits: what a worker counted after
// its last scrape is lost, what it counted before stays.
type upstreamTotals struct {
	mu   sync.Mutex
	last map[int][]wire.Upstream // by pid: the last answer of a live worker
	base map[proxy.UpstreamKey]*upstreamSeries
}

// addGoneLocked adds the counts of workers that are gone, or of an old
// master's (a binary upgrade), to the base; t.mu is held.
func (t *upstreamTotals) addGoneLocked(ws []wire.Upstream) {
	if t.base == nil {
		t.base = make(map[proxy.UpstreamKey]*upstreamSeries)
	}
	for i := range ws {
		seriesOf(t.base, proxy.UpstreamKey{Host: ws[i].Host, Upstream: ws[i].Upstream}).addCounters(&ws[i])
	}
}

// seriesOf is m's series for k, added (up) if m has none.
func seriesOf(m map[proxy.UpstreamKey]*upstreamSeries, k proxy.UpstreamKey) *upstreamSeries {
	s := m[k]
	if s == nil {
		s = &upstreamSeries{key: k, up: true}
		m[k] = s
	}
	return s
}

// upstreamSnapshot asks every worker for its upstream counters and sums
// them; the up state also takes the master's own health checks.
func (m *Master) upstreamSnapshot() []*upstreamSeries {
	u := m.upstreams
	if u == nil {
		return nil
	}
	procs := m.allProcs()
	answers := make([][]wire.Upstream, len(procs))
	ok := make([]bool, len(procs))
	ctx, cancel := context.WithTimeout(context.Background(), upstreamScrapeTimeout)
	var wg sync.WaitGroup
	for i, p := range procs {
		if p.getState() == StateExited {
			continue
		}
		wg.Go(func() {
			r, err := p.request(ctx, wire.MsgUpstreamMetrics, nil)
			if err == nil && json.Unmarshal(r.Body, &answers[i]) == nil {
				ok[i] = true
			}
		})
	}
	wg.Wait()
	cancel()

	t := &u.totals
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[int][]wire.Upstream)
	}
	live := make(map[int]bool)
	for i, p := range procs {
		if p.getState() != StateExited {
			live[p.pid] = true
		}
		if ok[i] {
			t.last[p.pid] = answers[i]
		}
	}
	series := make(map[proxy.UpstreamKey]*upstreamSeries)
	for pid, ws := range t.last {
		if live[pid] {
			continue
		}
		t.addGoneLocked(ws)
		delete(t.last, pid)
	}
	for k, b := range t.base {
		s := seriesOf(series, k)
		s.addCounters(&wire.Upstream{Codes: b.codes, Buckets: b.buckets[:], SumNanos: int64(b.sum)})
	}
	for _, ws := range t.last {
		for i := range ws {
			w := &ws[i]
			s := seriesOf(series, proxy.UpstreamKey{Host: w.Host, Upstream: w.Upstream})
			s.addCounters(w)
			s.active += w.Active
			if w.Listed {
				s.up = s.up && w.Up
				s.listed = true
			}
		}
	}
	// The master's checks: an upstream that failed is down even before a
	// worker says so, and is listed even when no worker answered.
	for host, st := range u.checked() {
		for addr, up := range st {
			s := seriesOf(series, proxy.UpstreamKey{Host: host, Upstream: addr})
			s.up = s.up && up
			s.listed = true
		}
	}
	out := make([]*upstreamSeries, 0, len(series))
	for _, s := range series {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *upstreamSeries) int {
		return cmp.Or(cmp.Compare(a.key.Host, b.key.Host), cmp.Compare(a.key.Upstream, b.key.Upstream))
	})
	return out
}

// writeUpstreamMetrics writes the reverse proxy's series in Prometheus
// text: rockstar_upstream_requests_total{host,upstream,code},
// rockstar_upstream_up{host,upstream}, rockstar_upstream_active_requests
// and the rockstar_upstream_response_seconds histogram. serveMetrics
// calls it; nothing is written when no host proxies.
func (m *Master) writeUpstreamMetrics(w io.Writer) {
	series := m.upstreamSnapshot()
	if len(series) == 0 {
		return
	}
	labels := func(s *upstreamSeries) string {
		return fmt.Sprintf("host=%q,upstream=%q", s.key.Host, s.key.Upstream)
	}
	fmt.Fprintln(w, "# HELP rockstar_upstream_requests_total Tries sent to each upstream of a proxy host, by the status code it answered (502 or 504: no answer).")
	fmt.Fprintln(w, "# TYPE rockstar_upstream_requests_total counter")
	for _, s := range series {
		codes := make([]string, 0, len(s.codes))
		for c := range s.codes {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, c := range codes {
			fmt.Fprintf(w, "rockstar_upstream_requests_total{%s,code=%q} %d\n", labels(s), c, s.codes[c])
		}
	}
	fmt.Fprintln(w, "# HELP rockstar_upstream_up Whether the upstream is in rotation: 1, or out after a failed health check or passive marking: 0.")
	fmt.Fprintln(w, "# TYPE rockstar_upstream_up gauge")
	for _, s := range series {
		if s.listed {
			up := 0
			if s.up {
				up = 1
			}
			fmt.Fprintf(w, "rockstar_upstream_up{%s} %d\n", labels(s), up)
		}
	}
	fmt.Fprintln(w, "# HELP rockstar_upstream_active_requests Requests in flight on the upstream, response bodies included, over all workers.")
	fmt.Fprintln(w, "# TYPE rockstar_upstream_active_requests gauge")
	for _, s := range series {
		if s.listed {
			fmt.Fprintf(w, "rockstar_upstream_active_requests{%s} %d\n", labels(s), s.active)
		}
	}
	fmt.Fprintln(w, "# HELP rockstar_upstream_response_seconds Time from sending a request to an upstream to its response headers.")
	fmt.Fprintln(w, "# TYPE rockstar_upstream_response_seconds histogram")
	for _, s := range series {
		var total uint64
		for i, b := range worker.LatencyBounds {
			total += s.buckets[i]
			fmt.Fprintf(w, "rockstar_upstream_response_seconds_bucket{%s,le=%q} %d\n", labels(s),
				strconv.FormatFloat(b.Seconds(), 'g', -1, 64), total)
		}
		total += s.buckets[len(worker.LatencyBounds)]
		fmt.Fprintf(w, "rockstar_upstream_response_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels(s), total)
		fmt.Fprintf(w, "rockstar_upstream_response_seconds_sum{%s} %s\n", labels(s), strconv.FormatFloat(s.sum.Seconds(), 'g', -1, 64))
		fmt.Fprintf(w, "rockstar_upstream_response_seconds_count{%s} %d\n", labels(s), total)
	}
}
