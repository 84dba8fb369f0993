package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// extraFigures are the Rockstar-only figures.
type extraFigures struct {
	// StartupMs is the time from exec of `rockstar run` to its ready line,
	// for every start with the small benchmark config.
	StartupMs       []float64 `json:"startup_ms"`
	StartupMedianMs float64   `json:"startup_median_ms"`

	// Idle resident memory (VmRSS), one second after ready, no traffic yet.
	IdleWorkerRSSKiB []int64 `json:"idle_worker_rss_kib"`
	IdleMasterRSSKiB int64   `json:"idle_master_rss_kib"`

	Conns *connFigures `json:"idle_connections,omitempty"`
	// Nginx is the same measurement against nginx, for scale.
	NginxConns *connFigures `json:"nginx_idle_connections,omitempty"`

	Reload *reloadFigures `json:"reload,omitempty"`
}

func (x *extraFigures) addStartup(d time.Duration) {
	x.StartupMs = append(x.StartupMs, ms(d))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// connFigures is the memory cost of idle keep-alive connections.
type connFigures struct {
	Wanted      int     `json:"wanted"`
	Opened      int     `json:"opened"`
	OpenSeconds float64 `json:"open_seconds"`
	RSSBefore   int64   `json:"tree_rss_before_kib"`
	RSSAfter    int64   `json:"tree_rss_after_kib"`
	PerConnKiB  float64 `json:"kib_per_connection"`
	Note        string  `json:"note,omitempty"`
}

// reloadFigures is the HUP config push with many hosts.
type reloadFigures struct {
	Hosts          int       `json:"hosts"`
	StartupMs      float64   `json:"startup_ms"`
	HUPms          []float64 `json:"hup_to_reloaded_ms"`
	HUPMedianMs    float64   `json:"hup_median_ms"`
	ChangeVerified bool      `json:"change_verified"`
}

// extras measures Rockstar alone: startup, idle memory, memory per idle
// connection (and nginx's, for scale), and a HUP push with many hosts.
func (e *env) extras(ctx context.Context, pl *plan, s settings) (extraFigures, error) {
	var x extraFigures
	logf("[extras] idle memory and startup  (about %s left)", pl.left())
	r, took, err := e.startRockstar(ctx, "extras", "", `"auto"`, 0)
	if err != nil {
		return x, err
	}
	x.addStartup(took)
	if err := sleep(ctx, time.Second); err != nil {
		return x, err
	}
	for i, st := range tree(r.p.pid()) {
		kb, err := rssKiB(st.pid)
		if err != nil {
			continue
		}
		if i == 0 {
			x.IdleMasterRSSKiB = kb
		} else {
			x.IdleWorkerRSSKiB = append(x.IdleWorkerRSSKiB, kb)
		}
	}
	pl.extrasS -= 5

	logf("[extras] %d idle keep-alive connections to rockstar  (about %s left)", s.IdleConns, pl.left())
	x.Conns, err = memPerConn(ctx, r, s.IdleConns, 20*time.Second)
	e.procs.stop(r.p, 5*time.Second)
	if err != nil {
		return x, err
	}
	pl.extrasS -= 12

	logf("[extras] %d idle keep-alive connections to nginx  (about %s left)", s.IdleConns, pl.left())
	ng, err := e.startNginx(ctx, nameNginx, "extras", "", "auto")
	if err != nil {
		return x, err
	}
	x.NginxConns, err = memPerConn(ctx, ng, s.IdleConns, 20*time.Second)
	e.procs.stop(ng.p, 5*time.Second)
	if err != nil {
		return x, err
	}
	pl.extrasS -= 10

	for range 2 {
		logf("[extras] startup time  (about %s left)", pl.left())
		r, took, err := e.startRockstar(ctx, "startup", "", `"auto"`, 0)
		if err != nil {
			return x, err
		}
		x.addStartup(took)
		e.procs.stop(r.p, 5*time.Second)
	}
	pl.extrasS -= 4
	x.StartupMedianMs = median(x.StartupMs)

	logf("[extras] HUP config push with %d hosts  (about %s left)", s.ReloadHosts, pl.left())
	x.Reload, err = e.reloadTime(ctx, s.ReloadHosts)
	pl.extrasS = 0
	return x, err
}

// memPerConn opens n keep-alive connections to r from this process, sends
// one request on each and reads its answer, then leaves them idle, and
// compares the resident memory of r's process tree before and after. It
// gives up opening more after budget.
func memPerConn(ctx context.Context, r *running, n int, budget time.Duration) (*connFigures, error) {
	f := &connFigures{Wanted: n}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return nil, err
	}
	f.RSSBefore = treeRSSKiB(r.p.pid())
	var (
		mu     sync.Mutex
		conns  = make([]net.Conn, 0, n)
		next   atomic.Int64
		failed atomic.Int64
		errMu  sync.Mutex
		first  error
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(budget)
	start := time.Now()
	req := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil && time.Now().Before(deadline) {
				c, err := openIdle(r.port, req, deadline)
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	f.OpenSeconds = time.Since(start).Seconds()
	f.Opened = len(conns)
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	f.RSSAfter = treeRSSKiB(r.p.pid())
	if f.Opened > 0 {
		f.PerConnKiB = float64(f.RSSAfter-f.RSSBefore) / float64(f.Opened)
	}
	if failed.Load() > 0 {
		f.Note = fmt.Sprintf("%d connections failed; first: %v", failed.Load(), first)
	}
	if f.Opened < n {
		logf("[extras] %s: opened %d of %d connections in %.1fs (%s)", r.name, f.Opened, n, f.OpenSeconds, f.Note)
	}
	return f, nil
}

// openIdle connects, sends req, reads the answer, and returns the
// connection, kept alive and idle.
func openIdle(port int, req []byte, deadline time.Time) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(deadline.Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	status, _, err := readResponse(bufio.NewReaderSize(c, 512))
	if err == nil && status != 200 {
		err = fmt.Errorf("status %d", status)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// reloadTime starts Rockstar with hosts generated respond hosts, then three
// times changes one host's body, sends the master SIGHUP, and times it
// until the "reloaded" log line; it checks that the host answers the new
// body.
func (e *env) reloadTime(ctx context.Context, hosts int) (*reloadFigures, error) {
	f := &reloadFigures{Hosts: hosts}
	r, took, err := e.startRockstar(ctx, "reload", "", `"auto"`, hosts)
	if err != nil {
		return nil, err
	}
	defer e.procs.stop(r.p, 5*time.Second)
	f.StartupMs = ms(took)
	cfgPath := filepath.Join(r.dir, "rockstar.toml")
	target := bulkHost(hosts / 2)
	body := helloBody
	f.ChangeVerified = true
	for i := range 3 {
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return nil, err
		}
		old := fmt.Sprintf("hostname = %q\ntenant = \"bench\"\nrespond = %q\n", target, body)
		body = fmt.Sprintf("%s (reload %d)", helloBody, i+1)
		next := fmt.Sprintf("hostname = %q\ntenant = \"bench\"\nrespond = %q\n", target, body)
		if !strings.Contains(string(b), old) {
			return nil, fmt.Errorf("reload test: host %s not found in %s", target, cfgPath)
		}
		if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(b), old, next, 1)), 0o644); err != nil {
			return nil, err
		}
		from := r.log.count()
		t0 := time.Now()
		if err := syscall.Kill(r.p.pid(), syscall.SIGHUP); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		at, err := r.log.waitFor(wctx, r.p, "reloaded", from)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("reload with %d hosts: %w", hosts, err)
		}
		f.HUPms = append(f.HUPms, ms(at.Sub(t0)))
		// Every worker applied it before the master logged it.
		for range 4 { // reuseport spreads the connections over the workers
			got, err := get(r.port, target)
			if err != nil || got != body {
				f.ChangeVerified = false
				logf("[extras] after reload %d, %s answered %q (%v), want %q", i+1, target, got, err, body)
			}
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	f.HUPMedianMs = median(f.HUPms)
	return f, nil
}

// metricsSample reads Rockstar's admin endpoint after a pass: the requests
// its workers counted (from /status) and whether /metrics answers.
func (e *env) metricsSample(r *running) *metricsSample {
	m := &metricsSample{}
	c := &http.Client{Timeout: 3 * time.Second}
	if resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/status", r.admin)); err == nil {
		var st struct {
			Workers []struct {
				Requests uint64 `json:"requests"`
			} `json:"workers"`
		}
		if json.NewDecoder(resp.Body).Decode(&st) == nil {
			for _, w := range st.Workers {
				m.WorkerRequests += w.Requests
			}
		}
		resp.Body.Close()
	}
	if resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.admin)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m.MetricsStatus = resp.StatusCode
		m.MetricsBytes = len(b)
	}
	return m
}

type metricsSample struct {
	WorkerRequests uint64 `json:"worker_requests_counted"`
	MetricsStatus  int    `json:"metrics_status"`
	MetricsBytes   int    `json:"metrics_bytes"`
}

// median of xs (0 when empty); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
