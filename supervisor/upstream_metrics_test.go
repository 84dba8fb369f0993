package supervisor

import (
	"bytes"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rockstar-dev/rockstar/worker"
	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// The upstream series parse as Prometheus text, and a worker that exited
// keeps its counts in the totals while its gauges go.
func TestUpstreamMetricsText(t *testing.T) {
	m := &Master{}
	u := &upstreamMonitor{m: m, states: wire.UpstreamStates{Hosts: map[string]map[string]bool{
		"proxy.test": {"127.0.0.1:9002": false},
	}}}
	m.upstreams = u
	buckets := make([]uint64, worker.NumBuckets)
	buckets[0], buckets[3] = 5, 2
	// A worker with pid 42 answered the last scrape and is gone now.
	u.totals.last = map[int][]wire.Upstream{42: {{
		Host: "proxy.test", Upstream: "127.0.0.1:9001", Codes: map[string]uint64{"200": 6, "502": 1},
		Buckets: buckets, SumNanos: int64(3 * time.Millisecond), Active: 3, Listed: true, Up: true,
	}}}
	u.totals.base = map[proxy.UpstreamKey]*upstreamSeries{}

	var buf bytes.Buffer
	m.writeUpstreamMetrics(&buf)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("not Prometheus text: %v\n%s", err, buf.String())
	}
	req := families["rockstar_upstream_requests_total"]
	if req == nil || len(req.Metric) != 2 {
		t.Fatalf("requests_total: %v\n%s", req, buf.String())
	}
	var total float64
	for _, mt := range req.Metric {
		total += mt.GetCounter().GetValue()
	}
	if total != 7 {
		t.Errorf("requests_total sums to %v, want 7 (the exited worker's counts kept)", total)
	}
	h := families["rockstar_upstream_response_seconds"]
	if h == nil || h.Metric[0].GetHistogram().GetSampleCount() != 7 {
		t.Errorf("histogram: %v", h)
	}
	// Gauges: the exited worker's in-flight count is gone; 9002 is listed,
	// down, by the master's health checks alone.
	for _, mt := range families["rockstar_upstream_active_requests"].GetMetric() {
		if mt.GetGauge().GetValue() != 0 {
			t.Errorf("active after the worker exited: %v", mt)
		}
	}
	up := families["rockstar_upstream_up"]
	if up == nil || len(up.Metric) != 1 || up.Metric[0].GetGauge().GetValue() != 0 {
		t.Errorf("up: %v\n%s", up, buf.String())
	}
}
