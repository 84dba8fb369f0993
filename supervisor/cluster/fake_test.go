package cluster

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// fakeStore is a Store in memory, with the lease script's arithmetic in
// nanoseconds on a fake clock, that can be made unreachable.
type fakeStore struct {
	mu    sync.Mutex
	now   func() time.Time
	tat   map[string]time.Time
	down  bool
	calls int
	taken int64 // tokens granted, less those given back
}

var errFakeDown = errors.New("fake redis: connection refused")

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, tat: map[string]time.Time{}}
}

func (f *fakeStore) Lease(_ context.Context, ops []Op) ([]Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return nil, errFakeDown
	}
	now := f.now()
	out := make([]Grant, len(ops))
	for i, op := range ops {
		tat := f.tat[op.Key]
		if tat.Before(now) {
			tat = now
		}
		if op.Return > 0 {
			tat = tat.Add(-time.Duration(op.Return) * op.Interval)
			if tat.Before(now) {
				tat = now
			}
			f.taken -= op.Return
		}
		got := int64(math.Floor(float64(now.Add(op.Tolerance).Sub(tat)) / float64(op.Interval)))
		got = min(max(got, 0), op.Take)
		tat = tat.Add(time.Duration(got) * op.Interval)
		out[i].Tokens = got
		if got < op.Take {
			out[i].Wait = max(tat.Add(op.Interval-op.Tolerance).Sub(now), 0)
		}
		f.tat[op.Key] = tat
		f.taken += got
	}
	return out, nil
}

func (f *fakeStore) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newBucket is a cluster bucket in this process's memory.
func newBucket() wire.ClusterBucket {
	return wire.ClusterBucket{TAT: new(atomic.Int64), Tokens: new(atomic.Int64), Mode: new(atomic.Int64),
		Wanted: new(atomic.Int64), Machines: new(atomic.Int64)}
}

// take is a worker's request on b in ModeLease: a token if there is one.
func take(b wire.ClusterBucket) bool {
	for {
		n := b.Tokens.Load()
		if n <= 0 {
			b.Wanted.Add(1)
			return false
		}
		if b.Tokens.CompareAndSwap(n, n-1) {
			return true
		}
	}
}
