//go:build linux

package netutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// The control-message benchmarks encode and decode the messages the master
// and its workers exchange, with bodies shaped like theirs: a health probe
// and its reply (every second, per worker), a metrics reply with 1,000
// series, and a config push with 1,000 hosts. netutil cannot import the
// supervisor's types, so the bodies are built here in the same JSON shape.

// benchHealthReply is a worker's answer to a health probe.
var benchHealthReply = json.RawMessage(`{"state":"ready","uptime":3600.25,"requests":123456789,"active":64}`)

// benchMetricsBody is a worker's metrics snapshot with n series.
func benchMetricsBody(n int) json.RawMessage {
	type stats struct {
		Requests  uint64            `json:"requests"`
		Status    map[string]uint64 `json:"status"`
		BytesIn   uint64            `json:"bytes_in"`
		BytesOut  uint64            `json:"bytes_out"`
		Limited   uint64            `json:"limited"`
		Active    int64             `json:"active"`
		Durations []uint64          `json:"duration_buckets"`
	}
	type series struct {
		Server string `json:"server"`
		Host   string `json:"host"`
		Tenant string `json:"tenant"`
		stats
	}
	body := struct {
		Series  []series         `json:"series"`
		Servers map[string]int64 `json:"active_connections"`
	}{Servers: map[string]int64{"127.0.0.1:8080": 64}}
	for i := range n {
		body.Series = append(body.Series, series{
			Server: "127.0.0.1:8080",
			Host:   fmt.Sprintf("app%04d.tenant%03d.example.com", i, i%100),
			Tenant: fmt.Sprintf("tenant%03d", i%100),
			stats: stats{
				Requests: 1_000_000 + uint64(i), Status: map[string]uint64{"2xx": 999_000, "4xx": 900, "5xx": 100},
				BytesIn: 123_456_789, BytesOut: 987_654_321, Limited: 12, Active: 3,
				Durations: []uint64{500_000, 300_000, 150_000, 40_000, 9_000, 900, 100, 0, 0, 0, 0, 0},
			},
		})
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return b
}

// benchConfigBody is a config push with n respond hosts in tenants of ten.
func benchConfigBody(n int) json.RawMessage {
	type rate struct {
		RPS   float64 `json:"requests_per_second"`
		Burst int     `json:"burst"`
	}
	type host struct {
		Hostname  string            `json:"hostname"`
		Tenant    string            `json:"tenant"`
		Respond   string            `json:"respond"`
		RateLimit *rate             `json:"rate_limit"`
		Headers   map[string]string `json:"headers"`
	}
	type tenant struct {
		ID        string   `json:"id"`
		Hosts     []string `json:"hosts"`
		RateLimit *rate    `json:"rate_limit"`
	}
	var cfg struct {
		Servers []map[string]any `json:"servers"`
		Hosts   []host           `json:"hosts"`
		Tenants []tenant         `json:"tenants"`
	}
	cfg.Servers = []map[string]any{{"listen": ":8080", "protocols": []string{"http1"}, "read_timeout": 30e9}}
	for i := range n {
		name := fmt.Sprintf("app%04d.tenant%03d.example.com", i, i/10)
		cfg.Hosts = append(cfg.Hosts, host{Hostname: name, Tenant: fmt.Sprintf("tenant%03d", i/10),
			Respond: "Hello, World!", RateLimit: &rate{100, 20}, Headers: map[string]string{"X-Frame-Options": "DENY"}})
		if i%10 == 0 {
			cfg.Tenants = append(cfg.Tenants, tenant{ID: fmt.Sprintf("tenant%03d", i/10), RateLimit: &rate{500, 100}})
		}
		t := &cfg.Tenants[len(cfg.Tenants)-1]
		t.Hosts = append(t.Hosts, name)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

var benchMessages = []struct {
	name string
	msg  *Message
}{
	{"health-probe", &Message{ID: 42, Type: "health"}},
	{"health-reply", &Message{ID: 42, Type: "health", Body: benchHealthReply}},
	{"metrics-1000-series", &Message{ID: 43, Type: "metrics", Body: benchMetricsBody(1000)}},
	{"config-1000-hosts", &Message{ID: 44, Type: "config", Body: benchConfigBody(1000)}},
}

// BenchmarkWriteMessage encodes each message as a frame.
func BenchmarkWriteMessage(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			frame, err := encodeFrame(bm.msg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := WriteMessage(io.Discard, bm.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadMessage decodes each message from its frame.
func BenchmarkReadMessage(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			frame, err := encodeFrame(bm.msg)
			if err != nil {
				b.Fatal(err)
			}
			r := bytes.NewReader(frame)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(frame)
				if _, err := ReadMessage(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnHealthRoundTrip is one health probe and its reply through a
// real socketpair, as the master and a worker exchange them: Send, Recv on
// the other end, Send the reply, Recv it.
func BenchmarkConnHealthRoundTrip(b *testing.B) {
	pf, cf, err := SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	pc, err := FileConn(pf)
	if err != nil {
		b.Fatal(err)
	}
	cc, err := FileConn(cf)
	if err != nil {
		b.Fatal(err)
	}
	master, worker := NewConn(pc), NewConn(cc)
	defer master.Close()
	defer worker.Close()
	probe := &Message{ID: 1, Type: "health"}
	reply := &Message{ID: 1, Type: "health", Body: benchHealthReply}
	b.ReportAllocs()
	for b.Loop() {
		if err := master.Send(probe); err != nil {
			b.Fatal(err)
		}
		if _, err := worker.Recv(); err != nil {
			b.Fatal(err)
		}
		if err := worker.Send(reply); err != nil {
			b.Fatal(err)
		}
		if _, err := master.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
