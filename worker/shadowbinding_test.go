package worker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/netutil"
)

// A worker handed two sockets for one address (its own SO_REUSEPORT socket
// and the shared one) serves each with its own server and binding. Both
// must follow a host change and both must drain: the second one used to
// shadow the first in the manager's table, which then kept stale hosts and
// held the drain until the supervisor killed the worker.
func TestTwoSocketsOneAddress(t *testing.T) {
	sm := quietManager(t)
	ln1, err := netutil.ListenReusePort("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := netutil.ListenReusePort("tcp", ln1.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter()
	r.Host("a.test").GET("/", text("route"))
	done := make(chan error, 2)
	var servers []Server
	for _, ln := range []net.Listener{ln1, ln2} {
		s := sm.NewServer(ServerConfig{})
		s.SetRouter(r)
		servers = append(servers, s)
		go func() { done <- s.Serve(ln) }()
	}
	for _, s := range servers {
		waitListening(t, s, done)
	}
	if err := sm.RegisterHost("new.test", HostConfig{}); err != nil {
		t.Fatal(err)
	}
	// Every binding knows the new host, whatever socket the kernel picks.
	ms := sm.(*serverManager)
	ms.mu.Lock()
	all := ms.allBindingsLocked()
	ms.mu.Unlock()
	if len(all) != 2 {
		t.Fatalf("%d bindings, want 2", len(all))
	}
	for _, b := range all {
		if _, ok := b.disp.Load().hosts.lookup([]byte("new.test")); !ok {
			t.Errorf("binding %p does not know new.test", b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := sm.Drain(ctx, 0); err != nil {
		t.Fatalf("drain: %v", err)
	}
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a server still serves after Drain")
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("drain took %v", d)
	}
}
