//go:build !race

package worker

import (
	"testing"
)

// TestAllocsPerClientLimit: a per-client limit adds no allocation to the
// request path, whether it passes or refuses.
func TestAllocsPerClientLimit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rate  float64
		burst int
		want  int
		ip    string
	}{
		{"passes", 1e9, 1 << 30, 200, "192.0.2.7"},
		{"refuses", 0.1, 1, 429, "192.0.2.7"},
		{"passes IPv6", 1e9, 1 << 30, 200, "2001:db8::7"},
		{"refuses IPv6", 0.1, 1, 429, "2001:db8::7"},
	} {
		sm := NewServerManager()
		cfg := &RateLimitConfig{Enabled: true, RequestsPerSecond: tt.rate, BurstSize: tt.burst, Key: KeyClientIP}
		if err := sm.RegisterHost("a.test", HostConfig{RateLimits: cfg}); err != nil {
			t.Fatal(err)
		}
		serve := keyedServe(sm, okRouter("a.test"))
		ctx := keyedCtx("a.test", tt.ip)
		serve(ctx)
		ctx.Response.Reset()
		serve(ctx)
		if tt.want == 429 && ctx.Response.StatusCode() != 429 {
			t.Fatalf("%s: %d", tt.name, ctx.Response.StatusCode())
		}
		n := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			serve(ctx)
		})
		if ctx.Response.StatusCode() != tt.want {
			t.Fatalf("%s: status %d, want %d", tt.name, ctx.Response.StatusCode(), tt.want)
		}
		if n != 0 {
			t.Errorf("%s: %v allocations per request", tt.name, n)
		}
	}
}
