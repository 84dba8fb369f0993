package supervisor_test

import (
	"fmt"
	"testing"
	"time"
)

// The cluster limits' tests: two masters on different ports, as two
// machines of one cluster, share a tenant limit through a real
// redis-server on loopback (redis_test.go).

const (
	clusterRate  = 100.0
	clusterBurst = 20
	// clusterLease is a machine's lease of that limit with the default
	// lease_window of 100 ms (cluster.LeaseSize).
	clusterLease = 10
)

// clusterConfig is a machine of a two-machine cluster on redisURL: tenant
// "demo" (hosts a.test, b.test) limited to 100 requests/s with a burst of
// 20 across the cluster, on_cluster_failure policy (default if "").
func clusterConfig(redisURL, policy string) string {
	pol := ", scope = \"cluster\""
	if policy != "" {
		pol += fmt.Sprintf(", on_cluster_failure = %q", policy)
	}
	return clusterConfigWith(redisURL, "", pol)
}

// clusterConfigWith is clusterConfig with more [cluster] lines and the
// rest of the tenant's rate_limit table (limit, after its burst).
func clusterConfigWith(redisURL, clusterExtra, limit string) string {
	tenantLimit := fmt.Sprintf("{ requests_per_second = %v, burst = %d%s }", clusterRate, clusterBurst, limit)
	return limitConfig(2, "", tenantLimit) + fmt.Sprintf(`
[cluster]
redis = %q
machines = 2
# Not the 50 ms default: on a loaded test machine (2 cores, -race, other
# packages' tests) a round trip to a live Redis can take longer, and a
# spurious fallback to the local share admits its burst on top of the
# leases. A dead Redis (killed) refuses at once whatever the timeout.
timeout = "1s"
%s
`, redisURL, clusterExtra)
}

// startMachines starts n masters of clusterConfig.
func startMachines(t *testing.T, n int, redisURL, policy string) []*master {
	t.Helper()
	ms := make([]*master, n)
	for i := range ms {
		ms[i] = startMaster(t, clusterConfig(redisURL, policy))
		ms[i].waitWorkers(2, 10*time.Second)
	}
	return ms
}

// clusterLoad is what the clients of every machine saw in one run.
type clusterLoad struct {
	res []*hammerResult
	// window is from before the first request to the last 200 on any
	// machine: every admission happened within it.
	window time.Duration
}

func (l clusterLoad) admitted() (n float64) {
	for _, r := range l.res {
		n += float64(r.OK.Load())
	}
	return n
}

func (l clusterLoad) answered() (n float64) {
	for _, r := range l.res {
		n += float64(r.Answered())
	}
	return n
}

// bound is B + R·T over the load's window.
func (l clusterLoad) bound() float64 { return clusterBurst + clusterRate*l.window.Seconds() }

func (l clusterLoad) String() string {
	s := fmt.Sprintf("window %v, B + R·T = %.1f, admitted %v of %v", l.window.Round(time.Millisecond), l.bound(), l.admitted(), l.answered())
	for i, r := range l.res {
		s += fmt.Sprintf("; machine %d: %v", i, r)
	}
	return s
}

// loadMachines runs conns clients against each machine for d, all at once.
func loadMachines(t *testing.T, ms []*master, conns int, d time.Duration) clusterLoad {
	t.Helper()
	t0 := time.Now()
	var l clusterLoad
	stops := make([]func() *hammerResult, len(ms))
	for i, m := range ms {
		l.res = append(l.res, nil)
		l.res[i], stops[i] = hammer(t, m.addr, "GET", []string{"a.test", "b.test"}, conns, d)
	}
	time.Sleep(d) // the clients stop by themselves then
	for i, stop := range stops {
		r := stop()
		if w := r.start.Sub(t0) + r.LastOK(); w > l.window {
			l.window = w
		}
		if r.Errs.Load() > 0 || r.Other.Load() > 0 {
			t.Errorf("machine %d: unexpected answers: %v", i, r)
		}
	}
	return l
}

// checkExact checks that l admitted no more than B + R·T (+5%, the goal
// the README documents), and not much less when the clients offered much
// more than the limit.
func checkExact(t *testing.T, what string, l clusterLoad) {
	t.Helper()
	t.Logf("%s: %v; admitted/(B + R·T) = %.1f%%", what, l, 100*l.admitted()/l.bound())
	if l.admitted() > 1.05*l.bound() {
		t.Errorf("%s: admitted %v > 1.05·(B + R·T) = %.0f: the limit is not shared across the machines", what, l.admitted(), 1.05*l.bound())
	}
	offered := l.answered() / l.window.Seconds()
	switch {
	case offered < 5*clusterRate:
		t.Logf("%s: only %.0f requests/s answered: the machine is too busy to check the lower bound", what, offered)
	case l.admitted() < 0.8*l.bound():
		t.Errorf("%s: admitted %v < 0.8·(B + R·T) = %.0f: the limit refuses too much", what, l.admitted(), 0.8*l.bound())
	}
}

// TestClusterLimitTwoMachines: a tenant limit of 100 requests/s with a
// burst of 20 and scope = "cluster", on two machines loaded at once for 4
// s, admits B + R·T in all (within 5%), not that on each; both machines
// get their part, and the cluster series are on /metrics.
func TestClusterLimitTwoMachines(t *testing.T) {
	r := startRedis(t)
	ms := startMachines(t, 2, r.URL(), "")
	l := loadMachines(t, ms, 16, 4*time.Second)
	checkExact(t, "two machines", l)
	for i, res := range l.res {
		// Evenly loaded, both get about half (the rounds' jitter); the
		// margin is wide.
		if float64(res.OK.Load()) < 0.2*l.admitted() {
			t.Errorf("machine %d admitted %d of %v: the budget is not shared fairly", i, res.OK.Load(), l.admitted())
		}
		if n := res.NoRetryAfter.Load(); n > 0 {
			t.Errorf("machine %d: %d refusals without Retry-After", i, n)
		}
	}
	for i, m := range ms {
		s := scrape(t, m.admin)
		if got := sum(s, "rockstar_cluster_redis_up", nil); got != 1 {
			t.Errorf("machine %d: rockstar_cluster_redis_up = %v, want 1", i, got)
		}
		if got := sum(s, "rockstar_cluster_limits", nil); got != 1 {
			t.Errorf("machine %d: rockstar_cluster_limits = %v, want 1", i, got)
		}
		if got := sum(s, "rockstar_cluster_redis_round_trips_total", map[string]string{"result": "ok"}); got < 1 {
			t.Errorf("machine %d: rockstar_cluster_redis_round_trips_total{result=ok} = %v, want some", i, got)
		}
	}
}

// TestClusterLimitRedisDown: with Redis killed mid-run, both machines go
// on serving under the limit's on_cluster_failure policy ("local": each
// its share, half the limit and burst; "deny": nothing), say so in a log
// line and in /metrics, and once Redis is back on the same port, without
// a restart, the limit is exact again.
func TestClusterLimitRedisDown(t *testing.T) {
	for _, policy := range []string{"local", "deny"} {
		t.Run(policy, func(t *testing.T) {
			r := startRedis(t)
			ms := startMachines(t, 2, r.URL(), policy)
			checkExact(t, "before", loadMachines(t, ms, 8, 1500*time.Millisecond))

			// Killed a second into a 3 s run: nobody waits on the dead
			// Redis (no errors, loadMachines checks), and the run admits
			// at most the limit, the tokens held then, and the fresh
			// local shares' bursts.
			killed := make(chan struct{})
			time.AfterFunc(time.Second, func() { r.kill(); close(killed) })
			mid := loadMachines(t, ms, 8, 3*time.Second)
			<-killed
			t.Logf("redis killed 1 s into: %v", mid)
			if max := 1.05*(mid.bound()+clusterBurst) + 2*clusterLease; mid.admitted() > max {
				t.Errorf("admitted %v with redis killed 1 s into the run > 1.05·(2B + R·T) + 2 leases = %.0f", mid.admitted(), max)
			}
			for i, m := range ms {
				m.logs.wait(t, "cluster: redis unreachable; cluster limits fall back to their on_cluster_failure policy", 5*time.Second)
				s := scrape(t, m.admin)
				if got := sum(s, "rockstar_cluster_redis_up", nil); got != 0 {
					t.Errorf("machine %d: rockstar_cluster_redis_up = %v with redis down, want 0", i, got)
				}
				if got := sum(s, "rockstar_cluster_fallbacks_total", nil); got < 1 {
					t.Errorf("machine %d: rockstar_cluster_fallbacks_total = %v, want at least 1", i, got)
				}
				if got := sum(s, "rockstar_cluster_limits_fallback", nil); got != 1 {
					t.Errorf("machine %d: rockstar_cluster_limits_fallback = %v, want 1", i, got)
				}
			}

			down := loadMachines(t, ms, 8, 1500*time.Millisecond)
			t.Logf("redis down: %v", down)
			for i, res := range down.res {
				if res.Limited.Load() == 0 {
					t.Errorf("machine %d refused nothing with redis down", i)
				}
			}
			switch policy {
			case "local":
				for i, res := range down.res {
					if res.OK.Load() == 0 {
						t.Errorf("machine %d admitted nothing with redis down and policy local", i)
					}
				}
				if max := 1.05 * down.bound(); down.admitted() > max {
					t.Errorf("admitted %v in 1.5 s with redis down > 1.05·(B + R·T) = %.0f: the shares are not the limit ÷ machines", down.admitted(), max)
				}
			case "deny":
				if down.admitted() > 0 {
					t.Errorf("admitted %v with redis down and policy deny", down.admitted())
				}
			}

			r.start()
			for _, m := range ms {
				m.logs.wait(t, "cluster: redis is back; cluster limits are exact again", 10*time.Second)
				waitFor(t, "rockstar_cluster_redis_up 1", 5*time.Second, func() bool {
					return sum(scrape(t, m.admin), "rockstar_cluster_redis_up", nil) == 1
				})
			}
			checkExact(t, "after", loadMachines(t, ms, 8, 2*time.Second))
		})
	}
}

// TestClusterLimitIdleFallback: a machine without traffic sees Redis go
// (the manager's heartbeat) and falls back before the next request.
func TestClusterLimitIdleFallback(t *testing.T) {
	r := startRedis(t)
	ms := startMachines(t, 1, r.URL(), "")
	r.kill()
	ms[0].logs.wait(t, "cluster: redis unreachable; cluster limits fall back to their on_cluster_failure policy", 5*time.Second)
	if code, _, err := ms[0].get("a.test", "/"); err != nil || code != 200 {
		t.Fatalf("first request after redis went: %d, %v; want 200 from the local share", code, err)
	}
}

// TestClusterLimitReload: a limit that a reload turns from scope
// "machine" (each machine its own budget: twice the limit in all) to
// "cluster", together with a change of the [cluster] section, is one
// budget for both machines from then on, without a restart.
func TestClusterLimitReload(t *testing.T) {
	r := startRedis(t)
	ms := make([]*master, 2)
	for i := range ms {
		ms[i] = startMaster(t, clusterConfigWith(r.URL(), "", ""))
		ms[i].waitWorkers(2, 10*time.Second)
	}
	l := loadMachines(t, ms, 8, 2*time.Second)
	t.Logf("machine scope: %v", l)
	if offered := l.answered() / l.window.Seconds(); offered >= 5*clusterRate && l.admitted() < 1.5*l.bound() {
		t.Errorf("machine scope admitted %v < 1.5·(B + R·T) = %.0f: two machines should admit a limit each", l.admitted(), 1.5*l.bound())
	}
	for _, m := range ms {
		m.writeConfig(clusterConfigWith(r.URL(), `lease_window = "50ms"`, `, scope = "cluster"`))
		mustReload(t, m)
	}
	checkExact(t, "cluster scope after reload", loadMachines(t, ms, 8, 2*time.Second))
	for i, m := range ms {
		if got := sum(scrape(t, m.admin), "rockstar_cluster_limits", nil); got != 1 {
			t.Errorf("machine %d: rockstar_cluster_limits = %v after the reload, want 1", i, got)
		}
	}
}

// TestClusterLimitUpgrade: across a binary upgrade (USR2) of one machine,
// the new master leases the limit's buckets it adopted and the old one
// stops, so the two machines still admit one budget.
func TestClusterLimitUpgrade(t *testing.T) {
	r := startRedis(t)
	ms := startMachines(t, 2, r.URL(), "")
	ms[0].upgrade(t)
	checkExact(t, "after one machine's upgrade", loadMachines(t, ms, 8, 2*time.Second))
	// The new master's admin endpoint is on a port of its own (":0").
	lines := ms[0].logs.find("admin endpoint listening")
	admin, _ := lines[len(lines)-1]["listen"].(string)
	s := scrape(t, admin)
	if got := sum(s, "rockstar_cluster_limits", nil); got != 1 {
		t.Errorf("upgraded machine: rockstar_cluster_limits = %v, want 1", got)
	}
	if got := sum(s, "rockstar_cluster_redis_round_trips_total", map[string]string{"result": "ok"}); got < 1 {
		t.Errorf("upgraded machine: no round trips to redis")
	}
}
