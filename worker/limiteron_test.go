package worker

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/netutil/shm"
)

// TestLimiterOnSharedMemory: limiters that NewLimiterOn lays over the same
// memory, as workers over one shared region, spend one budget: a bucket's
// burst, or per client a table's.
func TestLimiterOnSharedMemory(t *testing.T) {
	cfg := RateLimitConfig{Enabled: true, RequestsPerSecond: 0.001, BurstSize: 2}
	var tat atomic.Int64
	a, b := NewLimiterOn(cfg, LimiterMemory{Bucket: &tat}), NewLimiterOn(cfg, LimiterMemory{Bucket: &tat})
	if _, keyed := a.(KeyedLimiter); keyed {
		t.Fatal("a limiter on a bucket is keyed")
	}
	now := time.Now()
	passed := 0
	for _, l := range []Limiter{a, b, a, b} {
		if ok, _ := l.Allow(now); ok {
			passed++
		}
	}
	if passed != 2 || tat.Load() == 0 {
		t.Fatalf("two limiters on one bucket passed %d of a burst of 2 (bucket %d)", passed, tat.Load())
	}

	cfg.Key = KeyClientIP
	mem := LimiterMemory{Table: make([]uint64, shm.TableWords(64)), Seed: 7}
	ka, ok1 := NewLimiterOn(cfg, mem).(KeyedLimiter)
	kb, ok2 := NewLimiterOn(cfg, mem).(KeyedLimiter)
	if !ok1 || !ok2 {
		t.Fatal("a limiter on a table is not keyed")
	}
	client, other := []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}
	passed = 0
	for _, l := range []KeyedLimiter{ka, kb, ka, kb} {
		if ok, _ := l.AllowKey(client, now); ok {
			passed++
		}
	}
	if passed != 2 {
		t.Fatalf("two limiters on one table passed %d of a client's burst of 2", passed)
	}
	if ok, _ := kb.AllowKey(other, now); !ok {
		t.Fatal("another client was refused")
	}
}
