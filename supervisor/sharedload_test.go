package supervisor_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hammerResult counts what hammer's clients saw.
type hammerResult struct {
	OK, Limited, Other, Errs atomic.Int64
	NoRetryAfter             atomic.Int64 // 429s without a Retry-After
	// Elapsed is from before the first request to after the last answer;
	// LastOK from before the first request to the last 200 received.
	Elapsed  time.Duration
	lastOK   atomic.Int64
	firstErr atomic.Value
	start    time.Time
}

// LastOK is the time from before the first request to the last 200
// received: a limiter admitted everything that passed within it.
func (r *hammerResult) LastOK() time.Duration { return time.Duration(r.lastOK.Load()) }

// Answered is every request that got a response.
func (r *hammerResult) Answered() int64 { return r.OK.Load() + r.Limited.Load() + r.Other.Load() }

func (r *hammerResult) String() string {
	s := fmt.Sprintf("200=%d 429=%d other=%d errors=%d in %v", r.OK.Load(), r.Limited.Load(), r.Other.Load(), r.Errs.Load(), r.Elapsed.Round(time.Millisecond))
	if e, ok := r.firstErr.Load().(string); ok {
		s += " first error: " + e
	}
	return s
}

// hammer keeps conns keep-alive clients sending method / to addr, spread
// over hosts, for d or until stop. POST, unlike GET, is never retried by
// net/http on another connection after a connection breaks, so that every
// request a client sent is counted once by it. Elapsed is from before the
// first request to after the last answer.
func hammer(t testing.TB, addr, method string, hosts []string, conns int, d time.Duration) (res *hammerResult, stop func() *hammerResult) {
	t.Helper()
	res = &hammerResult{}
	start := time.Now()
	res.start = start
	stopLoad := runLoad(addr, method, hosts, conns, d, res.record)
	var once sync.Once
	return res, func() *hammerResult {
		once.Do(func() {
			stopLoad()
			res.Elapsed = time.Since(start)
		})
		return res
	}
}

// record counts one answer or failure of hammer's clients.
func (r *hammerResult) record(resp *http.Response, err error) {
	if err != nil {
		r.Errs.Add(1)
		r.firstErr.CompareAndSwap(nil, err.Error())
		return
	}
	switch resp.StatusCode {
	case 200:
		r.OK.Add(1)
		r.lastOK.Store(int64(time.Since(r.start)))
	case 429:
		r.Limited.Add(1)
		if resp.Header.Get("Retry-After") == "" {
			r.NoRetryAfter.Add(1)
		}
	default:
		r.Other.Add(1)
	}
}

// getFromIP sends one request with Host host on a new connection from
// local address ip and returns the status and Retry-After.
func getFromIP(t testing.TB, ip, addr, host string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			return d.DialContext(ctx, network, a)
		},
	}}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", host, ip, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// sample is one line of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (s sample) key() string {
	var b strings.Builder
	b.WriteString(s.name)
	for _, k := range []string{"server", "host", "tenant", "code", "class", "state", "result", "le", "slot", "generation"} {
		if v, ok := s.labels[k]; ok {
			b.WriteString("," + k + "=" + v)
		}
	}
	return b.String()
}

// scrape reads the admin endpoint's /metrics.
func scrape(t testing.TB, admin string) []sample {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// parseSample parses `name{a="x",b="y"} value`; label values here hold no
// quotes or commas.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	head := line[:i]
	name, rest, hasLabels := strings.Cut(head, "{")
	s.name = name
	if hasLabels {
		rest = strings.TrimSuffix(rest, "}")
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return s, fmt.Errorf("bad label %q", kv)
			}
			s.labels[k] = strings.Trim(v, `"`)
		}
	}
	return s, nil
}

// sum adds the samples named name whose labels include match.
func sum(samples []sample, name string, match map[string]string) float64 {
	var total float64
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range match {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}
