package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// startRedis runs redis-server on a free loopback port in a temp dir
// until the test ends (stopped by pid), and returns its URL, a func that
// kills it now, and its pid. Without redis-server the test skips, unless CI is
// set ($ROCKSTAR_REDIS_SERVER names another binary).
func startRedis(t *testing.T) (url string, kill func(), pid int) {
	t.Helper()
	bin := os.Getenv("ROCKSTAR_REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("redis-server is not installed and CI is set: .ci/run installs it (apt-get install redis-server)")
			}
			t.Skip("redis-server is not installed: apt-get install redis-server (.ci/run does this)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // ends when the server exits; kill waits for it
		_ = cmd.Wait()
		close(done)
	}()
	kill = func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	t.Cleanup(kill)
	url = "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server does not answer PING")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return url, kill, cmd.Process.Pid
}

// TestRedisStore: the lease script on a real Redis takes the burst at
// once and then the rate, says how long until the next token, takes back
// what is given back, expires its key once the bucket is full, survives a
// SCRIPT FLUSH (as after a restart), and a dead Redis fails within the
// timeout.
func TestRedisStore(t *testing.T) {
	url, kill, pid := startRedis(t)
	c, err := NewRedis(config.Cluster{Redis: url, Machines: 1, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewRedisStore(c)
	ctx := context.Background()
	l := Limit{Rate: 100, Burst: 20}
	interval, tolerance := l.gcra()
	op := func(take, give int64) Grant {
		t.Helper()
		g, err := s.Lease(ctx, []Op{{Key: LimitKey("tenant", "demo"), Interval: interval, Tolerance: tolerance, Take: take, Return: give}})
		if err != nil {
			t.Fatal(err)
		}
		return g[0]
	}
	if g := op(30, 0); g.Tokens != 20 || g.Wait <= 0 || g.Wait > 10*time.Millisecond {
		t.Fatalf("first take of 30: %+v, want the burst, 20, and a wait of at most one interval", g)
	}
	if g := op(5, 0); g.Tokens > 1 {
		t.Fatalf("take right after the burst: %+v, want at most 1", g)
	}
	if g := op(5, 5); g.Tokens != 5 {
		t.Fatalf("give 5 back and take 5: %+v, want 5", g)
	}
	ttl := c.PTTL(ctx, LimitKey("tenant", "demo")).Val()
	if ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("key TTL %v, want until the bucket is full again (about 200 ms)", ttl)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if g := op(0, 20); g.Tokens != 0 {
		t.Fatalf("give back after SCRIPT FLUSH: %+v", g)
	}
	if g := op(20, 0); g.Tokens < 19 {
		t.Fatalf("take after giving all back: %+v, want about the burst", g)
	}
	// A Redis that hangs (stopped) fails a round within the timeout, and
	// answers again once it goes on.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Lease(ctx, []Op{{Key: "k", Interval: interval, Tolerance: tolerance, Take: 1}})
	el := time.Since(start)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	if err == nil {
		t.Fatal("a lease from a stopped redis did not fail")
	}
	if el > time.Second {
		t.Errorf("a lease from a stopped redis took %v, want about the 50 ms timeout", el)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.Lease(ctx, []Op{{Key: "k", Interval: interval, Tolerance: tolerance, Take: 1}}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no lease 5 s after redis went on: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	kill()
	start = time.Now()
	_, err = s.Lease(ctx, []Op{{Key: "k", Interval: interval, Tolerance: tolerance, Take: 1}})
	if err == nil {
		t.Fatal("a lease from a dead redis did not fail")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("a lease from a dead redis took %v, want about the 50 ms timeout", el)
	}
}

// TestNewRedis: the URL forms the config takes, and none without one.
func TestNewRedis(t *testing.T) {
	if _, err := NewRedis(config.Cluster{}); !errors.Is(err, ErrNoRedis) {
		t.Errorf("no redis: %v, want ErrNoRedis", err)
	}
	if _, err := NewRedis(config.Cluster{Redis: "redis://127.0.0.1:1/x"}); !errors.Is(err, ErrRedisURL) {
		t.Errorf("bad db: %v, want ErrRedisURL", err)
	}
	for _, u := range []string{"redis://127.0.0.1:6379/0", "rediss://u:p@cache.internal:6380/2", "unix:///run/redis.sock"} {
		c, err := NewRedis(config.Cluster{Redis: u, Timeout: 20 * time.Millisecond})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if o := c.Options(); o.ReadTimeout != 20*time.Millisecond || o.DialTimeout != 20*time.Millisecond || o.MaxRetries > 0 {
			t.Errorf("%s: timeouts %v/%v, retries %d", u, o.DialTimeout, o.ReadTimeout, o.MaxRetries)
		}
		c.Close()
	}
}
