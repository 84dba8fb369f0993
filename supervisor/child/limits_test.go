package child

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// masterRegion lays out a small region as a master does (wire.Layout,
// wire.WriteHeader), for the worker side to map.
func masterRegion(t testing.TB) (*shm.Region, wire.Layout) {
	t.Helper()
	lay := wire.Layout{Buckets: 16, SeriesCap: 64, Areas: 4, ArenaSets: 64, CellSize: wire.CellSize}
	lay.Place()
	r, err := shm.Create("rockstar-test", lay.Size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	wire.WriteHeader(r, lay, 42)
	return r, lay
}

// openWorkerSide maps r a second time, as a worker of counters area area.
func openWorkerSide(t testing.TB, r *shm.Region, area int) *workerShared {
	t.Helper()
	fd, err := unix.Dup(int(r.File().Fd()))
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

// Two workers, each in its own area, share the bucket the master's
// MsgLimits gave a limit, and write their series into the directory,
// where the master reads them (wire.DecodeRecord).
func TestSharedCountersAndLimits(t *testing.T) {
	r, lay := masterRegion(t)
	lim := worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 0.001, BurstSize: 2}
	body, err := json.Marshal(wire.LimitsBody{Limits: []wire.LimitSlot{{Scope: worker.ScopeHost, Name: "a.test", Limit: lim, Bucket: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	k := worker.SeriesKey{Server: "127.0.0.1:80", Host: "a.test", Tenant: "t"}
	var admitted int
	var cells []*worker.Counters
	for _, area := range []int{0, 1} {
		w := openWorkerSide(t, r, area)
		if err := w.setLimits(body); err != nil {
			t.Fatal(err)
		}
		l := w.limiter(worker.LimiterKey{Scope: worker.ScopeHost, Name: "a.test"}, lim)
		for range 3 {
			if ok, _ := l.Allow(time.Now()); ok {
				admitted++
			}
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
	if r.Int64(lay.BucketOff(3)).Load() == 0 {
		t.Fatal("the limit's state is not in its bucket: the workers limited in their own memory")
	}
	var got []worker.SeriesKey
	for i := range int(r.Uint64(wire.HdrDirCount).Load()) {
		key, ok := wire.DecodeRecord(r.Bytes(lay.RecordOff(i), wire.RecordBytes))
		if !ok {
			t.Fatalf("record %d is malformed", i)
		}
		got = append(got, key)
	}
	if len(got) != 2 || got[0] != k {
		t.Fatalf("the directory holds %v, want %v first of two", got, k)
	}
}

// A limits message that names a place outside the region, or a table that
// would wrap around the arena's end, is refused by the worker, not laid
// over the wrong memory.
func TestSharedLimitsOutsideTheRegion(t *testing.T) {
	r, lay := masterRegion(t)
	w := openWorkerSide(t, r, 0)
	for _, sl := range []wire.LimitSlot{
		{Scope: worker.ScopeHost, Name: "a", Bucket: lay.Buckets},
		{Scope: worker.ScopeHost, Name: "a", Bucket: -1, Set: lay.ArenaSets, Sets: 1},
		{Scope: worker.ScopeHost, Name: "a", Bucket: -1, Set: 0, Sets: 0},
		{Scope: worker.ScopeHost, Name: "a", Bucket: -1, Set: math.MaxInt, Sets: 1},
	} {
		body, _ := json.Marshal(wire.LimitsBody{Limits: []wire.LimitSlot{sl}})
		if err := w.setLimits(body); !errors.Is(err, wire.ErrBadShared) {
			t.Errorf("%+v: %v, want wire.ErrBadShared", sl, err)
		}
	}
}

// BenchmarkSharedLimiter is a host limit in the region, as a worker's
// request path calls it (with the request's time.Time), from every
// goroutine; compare BenchmarkLocalLimiter, the in-process one.
func BenchmarkSharedLimiter(b *testing.B) {
	r, _ := masterRegion(b)
	lim := worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 1e9, BurstSize: 1 << 30}
	w := openWorkerSide(b, r, 0)
	body, _ := json.Marshal(wire.LimitsBody{Limits: []wire.LimitSlot{{Scope: worker.ScopeHost, Name: "a.test", Limit: lim, Bucket: 0}}})
	if err := w.setLimits(body); err != nil {
		b.Fatal(err)
	}
	benchLimiter(b, w.limiter(worker.LimiterKey{Scope: worker.ScopeHost, Name: "a.test"}, lim))
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
