package proxy

import (
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// HealthChecker requests a health path on each upstream of a proxy every
// interval, and reports every change of an upstream's health (and its
// first result). A proxy runs one for itself when it has a HealthPath;
// a supervisor runs one per proxy host for all its workers and pushes the
// results to them. Its goroutine is started by NewHealthChecker and
// stopped, and waited for, by Close.
type HealthChecker struct {
	report func(upstream string, up bool)

	mu      sync.Mutex
	cfg     Config
	targets map[string]*healthTarget

	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

type healthTarget struct {
	hc    *fasthttp.HostClient
	known bool
	up    bool
}

// NewHealthChecker starts checking cfg's upstreams on cfg.HealthPath (with
// cfg.Name as the Host header) every cfg.HealthInterval, the first time at
// once. report is called from the checker's goroutine, one call at a time,
// with each upstream's first result and with every change after. An
// answer of 2xx or 3xx within cfg.HealthTimeout is a pass.
func NewHealthChecker(cfg Config, report func(upstream string, up bool)) *HealthChecker {
	if rc, err := cfg.resolve(); err == nil {
		cfg = rc
	}
	c := &HealthChecker{
		report:  report,
		targets: make(map[string]*healthTarget),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	c.setLocked(cfg)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.loop()
	}()
	return c
}

// Update changes what is checked: upstreams that stay keep their state,
// new ones are checked at once.
func (c *HealthChecker) Update(cfg Config) {
	if rc, err := cfg.resolve(); err == nil {
		cfg = rc
	}
	c.mu.Lock()
	c.setLocked(cfg)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *HealthChecker) setLocked(cfg Config) {
	c.cfg = cfg
	for addr, t := range c.targets {
		if !slices.Contains(cfg.Upstreams, addr) {
			t.hc.CloseIdleConnections()
			delete(c.targets, addr)
		}
	}
	for _, addr := range cfg.Upstreams {
		if c.targets[addr] == nil {
			c.targets[addr] = &healthTarget{hc: &fasthttp.HostClient{
				Addr:                      addr,
				MaxConns:                  2,
				MaxIdemponentCallAttempts: 1,
				MaxResponseBodySize:       64 << 10,
				NoDefaultUserAgentHeader:  true,
				Name:                      "rockstar-health",
			}}
		}
	}
}

// States returns the last result of each upstream that has one.
func (c *HealthChecker) States() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.targets))
	for addr, t := range c.targets {
		if t.known {
			out[addr] = t.up
		}
	}
	return out
}

// Close stops the checks and waits for the checker's goroutine.
func (c *HealthChecker) Close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.wg.Wait()
	c.mu.Lock()
	for _, t := range c.targets {
		t.hc.CloseIdleConnections()
	}
	c.mu.Unlock()
}

func (c *HealthChecker) loop() {
	for {
		c.mu.Lock()
		interval := c.cfg.HealthInterval
		c.mu.Unlock()
		c.checkAll()
		t := time.NewTimer(interval)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-c.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// checkAll checks every upstream at once and reports the changes.
func (c *HealthChecker) checkAll() {
	c.mu.Lock()
	cfg := c.cfg
	targets := make(map[string]*healthTarget, len(c.targets))
	for addr, t := range c.targets {
		targets[addr] = t
	}
	c.mu.Unlock()
	type result struct {
		addr string
		up   bool
	}
	results := make(chan result, len(targets))
	var wg sync.WaitGroup
	for addr, t := range targets {
		wg.Go(func() { results <- result{addr, check(t.hc, &cfg)} })
	}
	wg.Wait()
	close(results)
	var changed []result
	c.mu.Lock()
	for r := range results {
		t := c.targets[r.addr]
		if t == nil { // removed meanwhile
			continue
		}
		if !t.known || t.up != r.up {
			t.known, t.up = true, r.up
			changed = append(changed, r)
		}
	}
	c.mu.Unlock()
	for _, r := range changed {
		select {
		case <-c.stop:
			return
		default:
		}
		c.report(r.addr, r.up)
	}
}

// check requests the health path once.
func check(hc *fasthttp.HostClient, cfg *Config) bool {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(cfg.HealthPath)
	req.Header.SetHost(cfg.Name)
	if err := hc.DoTimeout(req, resp, cfg.HealthTimeout); err != nil {
		return false
	}
	code := resp.StatusCode()
	return code >= 200 && code < 400
}
