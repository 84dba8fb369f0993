package shm

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGCRABucket: a bucket in one word passes its burst at once, then one
// request an interval, and says how long a refused one has to wait.
func TestGCRABucket(t *testing.T) {
	const interval = int64(100 * time.Millisecond) // 10/s
	g := GCRA{Interval: interval, Tolerance: 5 * interval}
	var tat atomic.Int64
	now := int64(time.Hour)
	for i := range 5 {
		if ok, _ := g.Allow(&tat, now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, wait := g.Allow(&tat, now); ok || wait != interval {
		t.Fatalf("past the burst: ok %v, wait %v, want refused and %v", ok, time.Duration(wait), time.Duration(interval))
	}
	now += interval
	if ok, _ := g.Allow(&tat, now); !ok {
		t.Fatal("refused after one interval")
	}
	if ok, _ := g.Allow(&tat, now); ok {
		t.Fatal("two passed after one interval")
	}
}

// TestGCRABucketConcurrentExact hammers one bucket from many goroutines
// on a shared fake clock: at most burst + rate·T pass, and not far fewer.
func TestGCRABucketConcurrentExact(t *testing.T) {
	const rate, burst = 1000.0, 20
	interval := int64(float64(time.Second) / rate)
	g := GCRA{Interval: interval, Tolerance: burst * interval}
	var tat, clock, admitted atomic.Int64
	start := int64(time.Hour)
	clock.Store(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20000 {
				if ok, _ := g.Allow(&tat, clock.Add(int64(10*time.Microsecond))); ok {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Duration(clock.Load() - start)
	limit := burst + rate*elapsed.Seconds()
	if got := float64(admitted.Load()); got > limit || got < 0.99*limit {
		t.Fatalf("admitted %v over %v, want at most and near burst + rate·T = %v", got, elapsed, limit)
	}
}
