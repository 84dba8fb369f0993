package child

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// clusterSide is a worker's limiter of a cluster-scoped limit in bucket 5
// of a master's region, and the bucket's words as the master sees them.
func clusterSide(t testing.TB, lim worker.RateLimitConfig) (worker.Limiter, wire.ClusterBucket) {
	t.Helper()
	r, lay := masterRegion(t)
	w := openWorkerSide(t, r, 0)
	body, _ := json.Marshal(wire.LimitsBody{Limits: []wire.LimitSlot{{Scope: worker.ScopeTenant, Name: "demo", Limit: lim, Bucket: 5}}})
	if err := w.setLimits(body); err != nil {
		t.Fatal(err)
	}
	return w.limiter(worker.LimiterKey{Scope: worker.ScopeTenant, Name: "demo"}, lim), wire.ClusterBucketAt(r.Int64, &lay, 5)
}

// A cluster limit's worker spends exactly the tokens the master put in
// the bucket, counts what it refused, and follows the mode word: the
// machine's share (the limit ÷ machines) with Redis away and "local",
// nothing with "deny".
func TestClusterLimiter(t *testing.T) {
	lim := worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 0.001, BurstSize: 8, Placement: wire.PlacementClusterLocal}
	l, b := clusterSide(t, lim)
	now := time.Now()
	allowed := func(n int) (ok int) {
		for range n {
			if a, _ := l.Allow(now); a {
				ok++
			}
		}
		return ok
	}
	if got := allowed(3); got != 0 || b.Wanted.Load() != 3 {
		t.Fatalf("without tokens: %d admitted, %d wanted; want 0, 3", got, b.Wanted.Load())
	}
	if _, wait := l.Allow(now); wait <= 0 {
		t.Error("a refusal without a wait")
	}
	b.Tokens.Store(5)
	if got := allowed(10); got != 5 || b.Tokens.Load() != 0 {
		t.Fatalf("with 5 tokens: %d admitted, %d left; want 5, 0", got, b.Tokens.Load())
	}
	b.Machines.Store(4)
	b.Mode.Store(wire.ModeLocal)
	if got := allowed(10); got != 2 {
		t.Fatalf("local share of a burst of 8 on 4 machines: %d admitted, want 2", got)
	}
	b.Tokens.Store(5)
	b.Mode.Store(wire.ModeDeny)
	if got := allowed(10); got != 0 {
		t.Fatalf("deny: %d admitted", got)
	}
	b.Mode.Store(wire.ModeLease)
	if got := allowed(10); got != 5 {
		t.Fatalf("back to the lease: %d admitted of 5 tokens", got)
	}
}

// BenchmarkClusterLimiter is a cluster limit's hot path, as
// BenchmarkSharedLimiter is a machine limit's: a token by CAS.
func BenchmarkClusterLimiter(b *testing.B) {
	l, bk := clusterSide(b, worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 1e9, BurstSize: 1 << 30, Placement: wire.PlacementClusterLocal})
	bk.Tokens.Store(1 << 62)
	benchLimiter(b, l)
}
