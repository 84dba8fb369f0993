package wire

import (
	"strconv"

	"github.com/rockstar-dev/rockstar/worker"
)

// Message types on the control channel (netutil.Message.Type). A message
// that expects an answer carries an ID; the answer has the same ID and
// type, and an Err or a Body.
const (
	// MsgReady: worker to master, once, when all its servers accept.
	MsgReady = "ready"
	// MsgConfig: master to worker, the whole config.Config as JSON. The
	// first message a worker reads; later ones are reloads, answered
	// with an error or nothing.
	MsgConfig = "config"
	// MsgHealth: the master probes, the worker answers a Health.
	MsgHealth = "health"
	// MsgMetrics: the master asks, the worker answers its Metrics.
	MsgMetrics = "metrics"
	// MsgDrain: the worker stops accepting, finishes what is in flight
	// within Drain's timeout, and exits; it answers first.
	MsgDrain = "drain"
	// MsgStop: the worker answers, closes everything and exits.
	MsgStop = "stop"
	// MsgReopen: the worker reopens its access log (after a rotation).
	MsgReopen = "reopen"
	// MsgLimits: where the limits keep their state in the shared region
	// (LimitsBody); right after the first config and before every push.
	MsgLimits = "limits"
	// MsgUpstreams: master to worker, no answer. The health of the
	// upstreams of every proxy host with a health_path, as the master's
	// checks found it (UpstreamStates).
	MsgUpstreams = "upstreams"
	// MsgUpstreamMetrics: the master asks, the worker answers its
	// upstream counters ([]Upstream).
	MsgUpstreamMetrics = "upstream_metrics"
	// MsgACMEObtain: worker to master, the one request a worker makes
	// (its IDs are the worker's own; the master never sends this type).
	// A TLS handshake named a host (ACMEObtain) whose certificate is not
	// in the ACME store; the master decides whether it may have one (a
	// tls = "auto" host, or on demand a registered one within the rate
	// limit), obtains it into the store, and answers ACMECertificate, or
	// an error.
	MsgACMEObtain = "acme_obtain"
	// MsgACMECertificates: master to worker, no answer. The master
	// obtained or renewed the certificates of Names (ACMERenewed): a
	// worker drops what it cached of them and reads the store again.
	MsgACMECertificates = "acme_certificates"
)

// ACMEObtain is the body of MsgACMEObtain.
type ACMEObtain struct {
	Name string `json:"name"`
}

// ACMECertificate is the master's answer to MsgACMEObtain: the PEM chain
// and key as the store has them, so that a worker that cannot read the
// store (another user) serves them all the same.
type ACMECertificate struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// ACMERenewed is the body of MsgACMECertificates.
type ACMERenewed struct {
	Names []string `json:"names"`
}

// Health is a worker's answer to MsgHealth.
type Health struct {
	State    string  `json:"state"`
	Uptime   float64 `json:"uptime_seconds"`
	Requests uint64  `json:"requests"`
	Active   int64   `json:"active_connections"`
	// Servers are the open connections by server (listen address).
	Servers map[string]int64 `json:"servers,omitempty"`
}

// Drain is the body of MsgDrain.
type Drain struct {
	TimeoutMS int64 `json:"timeout_ms"`
	LingerMS  int64 `json:"linger_ms,omitempty"`
}

// Metrics is a worker's metrics snapshot, the answer to MsgMetrics (JSON
// has no struct map keys).
type Metrics struct {
	Series  []Series         `json:"series"`
	Servers map[string]int64 `json:"active_connections"`
}

// Series is one series of Metrics.
type Series struct {
	worker.SeriesKey
	worker.Stats
}

// MetricsFromSnapshot is s as a worker sends it.
func MetricsFromSnapshot(s worker.MetricsSnapshot) Metrics {
	m := Metrics{Servers: make(map[string]int64)}
	for k, v := range s.Series {
		m.Series = append(m.Series, Series{k, v})
	}
	for name, st := range s.Servers {
		m.Servers[name] = st.Active
	}
	return m
}

// LimitID names a limit: its bucket and its settings. A limit whose
// settings change is another limit, with a fresh bucket.
type LimitID struct {
	Scope, Name string
	Limit       worker.RateLimitConfig
}

// LimitSlot is where one limit keeps its state: a bucket, or for a
// per-client limit a table of Sets sets from Set.
type LimitSlot struct {
	Scope  string                 `json:"scope"`
	Name   string                 `json:"name"`
	Limit  worker.RateLimitConfig `json:"limit"`
	Bucket int                    `json:"bucket"` // -1 for a per-client limit
	Set    int                    `json:"set,omitempty"`
	Sets   int                    `json:"sets,omitempty"`
}

// ID is the limit s is the place of.
func (s LimitSlot) ID() LimitID { return LimitID{s.Scope, s.Name, s.Limit} }

// LimitsBody is the body of MsgLimits.
type LimitsBody struct {
	Limits []LimitSlot `json:"limits"`
}

// UpstreamStates is the body of MsgUpstreams: the whole state every time,
// so that a lost or late message is made good by the next one. Version
// grows with every change; a worker ignores an older one.
type UpstreamStates struct {
	Version uint64 `json:"version"`
	// Hosts maps a proxy host to its checked upstreams and whether each
	// passed its last check; an upstream not listed counts as up.
	Hosts map[string]map[string]bool `json:"hosts"`
}

// Upstream is one upstream's counters in the answer to
// MsgUpstreamMetrics.
type Upstream struct {
	Host     string            `json:"host"`
	Upstream string            `json:"upstream"`
	Codes    map[string]uint64 `json:"codes,omitempty"` // JSON keys are strings
	Buckets  []uint64          `json:"buckets"`
	SumNanos int64             `json:"sum_ns"`
	Active   int64             `json:"active"`
	Listed   bool              `json:"listed"`
	Up       bool              `json:"up"`
}

// CodeLabel is a status code as Upstream.Codes's key and the metrics'
// code label; 0 stands for any code outside 100 to 599.
func CodeLabel(code int) string {
	if code == 0 {
		return "other"
	}
	return strconv.Itoa(code)
}
