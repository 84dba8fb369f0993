package worker

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestHealthCheck(t *testing.T) {
	sm := quietManager(t)
	if err := sm.HealthCheck(); err != nil || !sm.IsHealthy() {
		t.Fatalf("no servers: HealthCheck = %v, want nil", err)
	}
	a, addrA := start(t, sm, ServerConfig{}, NewRouter())
	b, addrB := start(t, sm, ServerConfig{}, NewRouter())
	if err := sm.HealthCheck(); err != nil || !sm.IsHealthy() {
		t.Fatalf("all running: HealthCheck = %v, want nil", err)
	}

	// A server that was never started.
	never := sm.NewServer(ServerConfig{})
	if err := sm.AddServer("127.0.0.1:9", never); err != nil {
		t.Fatal(err)
	}
	// A server that was started and stopped.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a

	err := sm.HealthCheck()
	if !errors.Is(err, ErrUnhealthy) || !errors.Is(err, ErrServerNotRunning) {
		t.Fatalf("HealthCheck = %v, want ErrUnhealthy and ErrServerNotRunning", err)
	}
	if sm.IsHealthy() {
		t.Fatal("IsHealthy with failing servers")
	}
	// The error names each failing server, and only those.
	tests := []struct {
		name  string
		named bool
	}{
		{addrB, true},
		{"127.0.0.1:9", true},
		{addrA, false},
	}
	for _, tt := range tests {
		if got := strings.Contains(err.Error(), tt.name); got != tt.named {
			t.Errorf("error names %s: %v, want %v (error: %v)", tt.name, got, tt.named, err)
		}
	}

	// Back to healthy once the failing servers are gone or running again.
	if err := sm.RemoveServer("127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	wait := listenAsync(t, b, addrB)
	if err := sm.HealthCheck(); err != nil {
		t.Fatalf("after the fixes: HealthCheck = %v, want nil", err)
	}
	_ = b.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// A server whose listener fails under it is neither running nor healthy,
// and its Listen returns the failure rather than nil.
func TestHealthCheckListenerFailure(t *testing.T) {
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{})
	wait := listenAsync(t, s, "127.0.0.1:0")
	addr := s.Addr()
	m := sm.(*serverManager)
	m.mu.Lock()
	ln := s.(*server).bound.ln
	m.mu.Unlock()
	_ = ln.Close() // not a requested stop

	if err := wait(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Listen after its listener failed = %v, want net.ErrClosed", err)
	}
	waitFor(t, "the server to stop running", 5*time.Second, func() bool { return !s.IsRunning() })
	if err := sm.HealthCheck(); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("HealthCheck = %v, want ErrUnhealthy naming %s", err, addr)
	}
}
