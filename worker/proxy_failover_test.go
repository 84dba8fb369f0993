package worker

import (
	"testing"
	"time"
)

// Upstreams are killed and restarted under load, requests in flight on
// them included; while at least one is up, no GET fails.
func TestProxyFailoverUnderLoad(t *testing.T) {
	for _, strategy := range []string{ProxyRoundRobin, ProxyLeastConn, ProxyIPHash, ProxyRandomTwo} {
		t.Run(strategy, func(t *testing.T) {
			a, b, c := pxUpstream(t, "a"), pxUpstream(t, "b"), pxUpstream(t, "c")
			for _, u := range []*pxTestUpstream{a, b, c} {
				u.delay.Store(int64(time.Millisecond)) // so that requests are in flight when one dies
			}
			addr, p := pxFront(t, ProxyConfig{
				Upstreams: []string{a.addr, b.addr, c.addr}, Strategy: strategy,
				FailTimeout: 200 * time.Millisecond, Retries: 2,
			}, ServerConfig{})
			load := pxLoad(t, addr, "/", 16)
			load.waitOK(t, 200)

			a.kill()
			load.waitOK(t, 300)
			hits := a.hits.Load()
			a.restart()
			waitFor(t, "a back", 3*time.Second, func() bool {
				up, _ := p.UpstreamUp(a.addr)
				// ip_hash: every client here is 127.0.0.1, which may not hash to a.
				return up && (strategy == ProxyIPHash || a.hits.Load() > hits)
			})
			load.waitOK(t, 300)

			// Two down at once: a alone serves.
			b.kill()
			c.kill()
			load.waitOK(t, 1500) // longer than FailTimeout: the dead are tried again

			b.restart()
			c.restart()
			load.waitOK(t, 300)

			byBody, failures := load.finish()
			t.Logf("%s: %v", strategy, byBody)
			if len(failures) > 0 {
				t.Fatalf("%d failed requests, first: %s", len(failures), failures[0])
			}
			if strategy != ProxyIPHash && (byBody["a"] == 0 || byBody["b"] == 0 || byBody["c"] == 0) {
				t.Errorf("answers %v: want all three upstreams used", byBody)
			}
		})
	}
}

// An upstream that restarts leaves dead connections in the pool; the first
// request that meets one drops them all, and the upstream is not counted
// as failed for it.
func TestProxyUpstreamRestartLeavesNoDeadConnections(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, ProxyConfig{Upstreams: []string{a.addr, b.addr}, FailTimeout: time.Minute}, ServerConfig{})
	a.delay.Store(int64(5 * time.Millisecond))
	pxCount(t, addr, 320, 16) // many connections to a in its pool
	a.delay.Store(0)
	a.kill()
	a.restart()
	got := pxCount(t, addr, 40, 1)
	if up, _ := p.UpstreamUp(a.addr); !up || got["a"] != 20 {
		t.Errorf("after a restarted: a up %v, answers %v; want a up with its 20 turns", up, got)
	}
}
