package shm

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestTable(size int, rate float64, burst int) *Table {
	interval := int64(float64(time.Second) / rate)
	return NewTable(make([]uint64, TableWords(size)), TableConfig{Seed: 42, Interval: interval, Tolerance: int64(burst) * interval})
}

func ip(i int) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, 0x0a000000+uint32(i))
	return b
}

func TestTableBurstThenRate(t *testing.T) {
	tb := newTestTable(64, 10, 5) // 10/s, burst 5
	now := int64(time.Hour)
	a := ip(1)
	for i := range 5 {
		if ok, _ := tb.Allow(a, now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := tb.Allow(a, now)
	if ok {
		t.Fatal("request past the burst passed")
	}
	if want := int64(100 * time.Millisecond); wait != want {
		t.Fatalf("wait %v, want %v", time.Duration(wait), time.Duration(want))
	}
	// Another key has its own bucket.
	if ok, _ := tb.Allow(ip(2), now); !ok {
		t.Fatal("a second client was refused")
	}
	// After one interval, exactly one more passes.
	now += int64(100 * time.Millisecond)
	if ok, _ := tb.Allow(a, now); !ok {
		t.Fatal("refused after one interval")
	}
	if ok, _ := tb.Allow(a, now); ok {
		t.Fatal("two passed after one interval")
	}
}

// TestTableLRU fills one set and checks that a new key evicts the least
// recently used entry, and that an entry whose bucket refilled goes first.
func TestTableLRU(t *testing.T) {
	tb := newTestTable(Ways, 1, 1) // one set; one request per second, burst 1
	now := int64(time.Hour)
	for i := range Ways { // each client spends its burst
		if ok, _ := tb.Allow(ip(i), now+int64(i)); !ok {
			t.Fatalf("client %d refused", i)
		}
	}
	// Touch every client but 3 again (refused: their buckets are empty).
	for i := range Ways {
		if i == 3 {
			continue
		}
		if ok, _ := tb.Allow(ip(i), now+100); ok {
			t.Fatalf("client %d passed twice", i)
		}
	}
	// A new client evicts client 3, the least recently used.
	if ok, _ := tb.Allow(ip(100), now+200); !ok {
		t.Fatal("new client refused")
	}
	// Client 3 was forgotten: it passes again at once, and evicts the
	// least recently used of the others (client 0).
	if ok, _ := tb.Allow(ip(3), now+300); !ok {
		t.Fatal("evicted client 3 still limited")
	}
	// Clients 1, 2, 4.. are still remembered and still limited.
	for _, i := range []int{1, 2, 4, 5, 6, 7} {
		if ok, _ := tb.Allow(ip(i), now+400); ok {
			t.Fatalf("client %d was evicted out of LRU order", i)
		}
	}
	// Client 0 was evicted by client 3.
	if ok, _ := tb.Allow(ip(0), now+500); !ok {
		t.Fatal("client 0 should have been evicted")
	}

	// Two seconds on, every bucket has refilled: a new client takes a
	// refilled entry, not necessarily the least recently used one, and
	// evicts nothing that still limits anyone.
	later := now + int64(2*time.Second)
	if ok, _ := tb.Allow(ip(5), later); !ok {
		t.Fatal("client 5 refused after its bucket refilled")
	}
	if ok, _ := tb.Allow(ip(5), later); ok {
		t.Fatal("client 5 passed twice")
	}
	if ok, _ := tb.Allow(ip(200), later); !ok {
		t.Fatal("new client refused")
	}
	if ok, _ := tb.Allow(ip(5), later+1); ok {
		t.Fatal("a refilled entry should have been taken before client 5's live one")
	}
}

// TestTableConcurrentExact hammers one key from many goroutines with a
// shared fake clock and checks GCRA's bound: at most burst + rate·T.
func TestTableConcurrentExact(t *testing.T) {
	const rate, burst = 1000.0, 20
	tb := newTestTable(1024, rate, burst)
	var clock atomic.Int64
	start := int64(time.Hour)
	clock.Store(start)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			key := ip(7)
			other := ip(1000 + g)
			for range 20000 {
				now := clock.Add(int64(10 * time.Microsecond)) // 100k req/s offered
				if ok, _ := tb.Allow(key, now); ok {
					admitted.Add(1)
				}
				tb.Allow(other, now) // keep other sets and locks busy too
			}
		})
	}
	wg.Wait()
	elapsed := time.Duration(clock.Load() - start)
	limit := burst + rate*elapsed.Seconds()
	got := float64(admitted.Load())
	if got > limit {
		t.Fatalf("admitted %v over %v: more than burst + rate·T = %v", got, elapsed, limit)
	}
	if got < 0.99*limit {
		t.Fatalf("admitted %v over %v: far below burst + rate·T = %v", got, elapsed, limit)
	}
}

// TestLockTakeOver: a lock whose owner is dead is taken over by a waiter.
func TestLockTakeOver(t *testing.T) {
	var w atomic.Uint64
	Lock(&w, 7, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Lock(&w, 8, func(id uint64) bool { return id != 7 }) // 7 died
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the lock of a dead owner was not taken over")
	}
	if w.Load() != 8 {
		t.Fatalf("owner %d, want 8", w.Load())
	}
	Unlock(&w)
}

func TestTableAllowDoesNotAllocate(t *testing.T) {
	tb := newTestTable(1024, 1e9, 1<<20)
	key := ip(1)
	now := int64(time.Hour)
	if n := testing.AllocsPerRun(1000, func() { now++; tb.Allow(key, now) }); n != 0 {
		t.Fatalf("Allow allocates %v times", n)
	}
}

func BenchmarkTableAllow(b *testing.B) {
	tb := newTestTable(1<<16, 1e9, 1<<20)
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = ip(i)
	}
	var clock atomic.Int64
	clock.Store(int64(time.Hour))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			tb.Allow(keys[i%len(keys)], clock.Add(1))
		}
	})
}
