//go:build !race

// The race detector allocates on its own: go test -run Alloc ./supervisor/child/

package child

import (
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// TestClusterLimiterAllocs: a cluster limit's Allow allocates nothing, in
// its lease, in the machine's share (once made), and refusing.
func TestClusterLimiterAllocs(t *testing.T) {
	l, b := clusterSide(t, worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 1e9, BurstSize: 1 << 30, Placement: wire.PlacementClusterLocal})
	now := time.Now()
	b.Tokens.Store(1 << 40)
	for _, mode := range []int64{wire.ModeLease, wire.ModeLocal, wire.ModeDeny} {
		b.Mode.Store(mode)
		l.Allow(now)
		if n := testing.AllocsPerRun(1000, func() { l.Allow(now) }); n != 0 {
			t.Errorf("mode %d: %v allocations per Allow", mode, n)
		}
	}
}
