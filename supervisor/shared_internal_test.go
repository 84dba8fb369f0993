package supervisor

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

func limitedConfig(limits map[string]*config.RateLimit) *config.Config {
	cfg := &config.Config{Supervisor: config.Supervisor{Workers: 2}, Servers: []config.Server{{Listen: ":80"}}}
	for name, rl := range limits {
		cfg.Hosts = append(cfg.Hosts, config.Host{Hostname: name, RateLimit: rl})
	}
	return cfg
}

// openWorkerSide maps m's region a second time, as a worker would.
func openWorkerSide(t *testing.T, s *sharedMem, area int) *workerShared {
	t.Helper()
	fd, err := unix.Dup(int(s.r.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w, err := openShared(uintptr(fd), area, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.r.Close() })
	return w
}

// TestSharedAssign: an unchanged limit keeps its bucket across
// assignments, a changed one gets a fresh, zeroed one, and collect frees
// only what no live assignment names.
func TestSharedAssign(t *testing.T) {
	one := &config.RateLimit{RequestsPerSecond: 10, Burst: 5}
	perClient := &config.RateLimit{RequestsPerSecond: 1, Burst: 1, Key: config.KeyClientIP, Size: 100}
	s, err := newSharedMem(limitedConfig(map[string]*config.RateLimit{"a": one, "b": perClient}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	first, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": one, "b": perClient}))
	if err != nil {
		t.Fatal(err)
	}
	slot := func(set []limitSlot, name string) limitSlot {
		for _, sl := range set {
			if sl.Name == name {
				return sl
			}
		}
		t.Fatalf("no slot for %s in %+v", name, set)
		return limitSlot{}
	}
	a1, b1 := slot(first, "a"), slot(first, "b")
	if a1.Bucket < 0 || b1.Bucket != -1 || b1.Sets != shm.TableSets(100) {
		t.Fatalf("a %+v, b %+v", a1, b1)
	}
	s.r.Int64(s.lay.bucketOff(a1.Bucket)).Store(12345) // state to keep

	changed := &config.RateLimit{RequestsPerSecond: 10, Burst: 6}
	second, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": changed, "b": perClient}))
	if err != nil {
		t.Fatal(err)
	}
	a2, b2 := slot(second, "a"), slot(second, "b")
	if a2.Bucket == a1.Bucket || b2 != b1 {
		t.Fatalf("changed a got %+v (was %+v); unchanged b got %+v (was %+v)", a2, a1, b2, b1)
	}
	if v := s.r.Int64(s.lay.bucketOff(a2.Bucket)).Load(); v != 0 {
		t.Fatalf("fresh bucket holds %d", v)
	}
	// While both assignments may be in use, nothing is freed.
	s.collect([][]limitSlot{first, second})
	if v := s.r.Int64(s.lay.bucketOff(a1.Bucket)).Load(); v != 12345 {
		t.Fatalf("a live bucket was freed: %d", v)
	}
	// Once only the second is, a1 is zeroed and handed out again.
	s.collect([][]limitSlot{second})
	if v := s.r.Int64(s.lay.bucketOff(a1.Bucket)).Load(); v != 0 {
		t.Fatalf("freed bucket holds %d", v)
	}
	third, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": changed, "b": perClient, "c": one}))
	if err != nil {
		t.Fatal(err)
	}
	if c := slot(third, "c"); c.Bucket != a1.Bucket {
		t.Errorf("c got bucket %d, want the freed %d", c.Bucket, a1.Bucket)
	}
	// Removing b frees its table, and the arena merges it back whole.
	s.collect([][]limitSlot{third[:0]})
	if len(s.freeSets) != 1 || s.freeSets[0] != (extent{0, s.lay.arenaSets}) {
		t.Errorf("free sets after freeing everything: %v", s.freeSets)
	}
}

func TestSharedFull(t *testing.T) {
	huge := &config.RateLimit{RequestsPerSecond: 1, Key: config.KeyClientIP, Size: config.MaxClientTableSize}
	s, err := newSharedMem(limitedConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": huge})); !errors.Is(err, ErrSharedFull) {
		t.Fatalf("assign of a table larger than the arena: %v, want ErrSharedFull", err)
	}
	if len(s.slots) != 0 {
		t.Fatalf("a failed assign kept %v", s.slots)
	}
}

// TestSharedCountersAndLimits: two workers, each in its own area, share
// the buckets the master assigned and find each other's series in the
// directory, which the master reads.
func TestSharedCountersAndLimits(t *testing.T) {
	lim := &config.RateLimit{RequestsPerSecond: 0.001, Burst: 2}
	cfg := limitedConfig(map[string]*config.RateLimit{"a.test": lim})
	s, err := newSharedMem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	slots, err := s.assign(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(limitsBody{Limits: slots})
	if err != nil {
		t.Fatal(err)
	}
	k := worker.SeriesKey{Server: "127.0.0.1:80", Host: "a.test", Tenant: "t"}
	var admitted int
	var cells []*worker.Counters
	for _, area := range []int{s.acquireArea(), s.acquireArea()} {
		w := openWorkerSide(t, s, area)
		if err := w.setLimits(body); err != nil {
			t.Fatal(err)
		}
		l := w.limiter(worker.LimiterKey{Scope: worker.ScopeHost, Name: "a.test"}, *lim.Worker())
		for range 3 {
			if ok, _ := l.Allow(time.Now()); ok {
				admitted++
			}
		}
		if s.r.Int64(s.lay.bucketOff(slots[0].Bucket)).Load() == 0 {
			t.Fatalf("limiter %T is not in the region: its bucket there is untouched", l)
		}
		c := w.counters(k)
		if c == nil || w.counters(k) != c {
			t.Fatal("no stable shared counters for the series")
		}
		if w.counters(worker.SeriesKey{Server: "127.0.0.1:80", Host: "_"}) == c {
			t.Fatal("two series share counters")
		}
		cells = append(cells, c)
		if got := w.requests(); got != 0 {
			t.Fatalf("area %d starts with %d requests", area, got)
		}
	}
	if admitted != 2 {
		t.Fatalf("two workers admitted %d from a shared burst of 2", admitted)
	}
	if cells[0] == cells[1] {
		t.Fatal("two workers count in the same area")
	}
	snap := s.snapshot()
	if _, ok := snap[k]; len(snap) != 2 || !ok {
		t.Fatalf("master sees %v", snap)
	}
}

// BenchmarkSharedLimiter is a host limit in the region, as a worker's
// request path calls it (with the request's time.Time), from every
// goroutine; compare BenchmarkLocalLimiter, the in-process one.
func BenchmarkSharedLimiter(b *testing.B) {
	lim := &config.RateLimit{RequestsPerSecond: 1e9, Burst: 1 << 30}
	cfg := limitedConfig(map[string]*config.RateLimit{"a.test": lim})
	s, err := newSharedMem(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	slots, err := s.assign(cfg)
	if err != nil {
		b.Fatal(err)
	}
	w := &workerShared{r: s.r, lay: s.lay, limits: map[limitID]limitSlot{slots[0].id(): slots[0]}}
	benchLimiter(b, w.limiter(worker.LimiterKey{Scope: worker.ScopeHost, Name: "a.test"}, *lim.Worker()))
}

func BenchmarkLocalLimiter(b *testing.B) {
	benchLimiter(b, worker.NewLocalLimiter(worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 1e9, BurstSize: 1 << 30}))
}

func benchLimiter(b *testing.B, l worker.Limiter) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		for pb.Next() {
			if ok, _ := l.Allow(now); !ok {
				b.Error("refused")
				return
			}
		}
	})
}
