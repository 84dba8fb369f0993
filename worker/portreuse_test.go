package worker

import (
	"errors"
	"net"
	"testing"
	"testing/fstest"
)

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPortReuseByHost(t *testing.T) {
	sm := quietManager(t)
	addr := freeAddr(t)

	// Server A owns site1 through its HostConfigs and serves the default.
	ra := NewRouter()
	ra.GET("/", text("A default"))
	a := sm.NewServer(ServerConfig{HostConfigs: map[string]*HostConfig{
		"Site1.Example.com": {VirtualFS: fstest.MapFS{"index.html": {Data: []byte("site1 files")}}},
	}})
	a.SetRouter(ra)
	// Server B owns site2 through its router's hosts.
	rb := NewRouter()
	rb.GET("/", text("B default"))
	rb.Host("site2.example.com").GET("/", text("site2 route"))
	b := sm.NewServer(ServerConfig{})
	b.SetRouter(rb)

	waitA := listenAsync(t, a, addr)
	waitB := listenAsync(t, b, addr)
	tests := []struct{ host, want string }{
		{"site1.example.com", "site1 files"},
		{"SITE1.example.com:80", "site1 files"},
		{"site2.example.com", "site2 route"},
		{"unknown.example.com", "A default"}, // the first server is the default
	}
	for _, tt := range tests {
		if code, body := get(t, addr, tt.host, "/"); code != 200 || body != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.host, code, body, tt.want)
		}
	}

	// A third server claiming an owned host is refused at once, by config or router.
	c := sm.NewServer(ServerConfig{HostConfigs: map[string]*HostConfig{"SITE2.example.com.": {}}})
	if err := c.Listen(addr); !errors.Is(err, ErrHostOwned) {
		t.Errorf("Listen of a server claiming site2 = %v, want ErrHostOwned", err)
	}
	rd := NewRouter()
	rd.Host("site1.example.com").GET("/", text("D"))
	d := sm.NewServer(ServerConfig{})
	d.SetRouter(rd)
	if err := d.Listen(addr); !errors.Is(err, ErrHostOwned) {
		t.Errorf("Listen of a server routing site1 = %v, want ErrHostOwned", err)
	}
	if c.IsRunning() || d.IsRunning() {
		t.Error("a refused server runs")
	}
	// One with a host of its own joins.
	re := NewRouter()
	re.Host("site3.example.com").GET("/", text("site3"))
	e := sm.NewServer(ServerConfig{})
	e.SetRouter(re)
	waitE := listenAsync(t, e, addr)
	if code, body := get(t, addr, "site3.example.com", "/"); code != 200 || body != "site3" {
		t.Errorf("GET site3 = %d %q", code, body)
	}
	// Hosts a member adds to its router while serving are routed to it.
	rb.Host("late.example.com").GET("/", text("late B"))
	if code, body := get(t, addr, "late.example.com", "/"); code != 200 || body != "late B" {
		t.Errorf("GET late host = %d %q, want B's route", code, body)
	}

	// B leaving does not disturb the others; its hosts fall back to the default.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitB(); err != nil {
		t.Errorf("B's Listen = %v, want nil", err)
	}
	for _, tt := range []struct{ host, want string }{
		{"site1.example.com", "site1 files"},
		{"site3.example.com", "site3"},
		{"site2.example.com", "A default"},
	} {
		if code, body := get(t, addr, tt.host, "/"); code != 200 || body != tt.want {
			t.Errorf("after B left: GET %s = %d %q, want %q", tt.host, code, body, tt.want)
		}
	}
	if err := sm.StopAll(); err != nil {
		t.Fatal(err)
	}
	for name, wait := range map[string]func() error{"A": waitA, "E": waitE} {
		if err := wait(); err != nil {
			t.Errorf("%s's Listen = %v, want nil", name, err)
		}
	}
	if !refuses(addr) {
		t.Error("the shared port still accepts after StopAll")
	}
}

// The seed's port-reuse setup through StartAll: servers created with the
// same address share it.
func TestPortReuseStartAll(t *testing.T) {
	sm := quietManager(t)
	addr := freeAddr(t)
	for _, site := range []string{"one.test", "two.test"} {
		r := NewRouter()
		r.Host(site).GET("/", text(site))
		s := sm.NewServer(ServerConfig{Addr: addr})
		s.SetRouter(r)
	}
	if err := sm.StartAll(); err != nil {
		t.Fatal(err)
	}
	for _, s := range sm.GetServers() {
		if !s.IsRunning() || s.Addr() != addr {
			t.Errorf("server at %q running %v, want both running on %s", s.Addr(), s.IsRunning(), addr)
		}
	}
	for _, site := range []string{"one.test", "two.test"} {
		if code, body := get(t, addr, site, "/"); code != 200 || body != site {
			t.Errorf("GET %s = %d %q", site, code, body)
		}
	}
	if err := sm.HealthCheck(); err != nil {
		t.Errorf("HealthCheck = %v", err)
	}
	// RemoveServer takes them off one at a time; the port stays up until
	// the last one goes.
	for i, site := range []string{"one.test", "two.test"} {
		s, ok := sm.GetServer(addr)
		if !ok {
			t.Fatalf("GetServer(%s) found nothing with %d servers left", addr, sm.GetServerCount())
		}
		if err := sm.RemoveServer(addr); err != nil {
			t.Fatal(err)
		}
		if s.IsRunning() || sm.GetServerCount() != 1-i {
			t.Fatalf("after removing %s: running %v, %d servers left", site, s.IsRunning(), sm.GetServerCount())
		}
	}
	if _, ok := sm.GetServer(addr); ok || !refuses(addr) {
		t.Errorf("after removing both: GetServer found one %v, port refuses %v", ok, refuses(addr))
	}
}

// Two managers (standing in for two processes) share a port through
// SO_REUSEPORT.
func TestPortReuseAcrossManagers(t *testing.T) {
	addr := freeAddr(t)
	for _, name := range []string{"first", "second"} {
		sm := quietManager(t)
		r := NewRouter()
		r.GET("/", text(name))
		s := sm.NewServer(ServerConfig{})
		s.SetRouter(r)
		listenAsync(t, s, addr) // stopped and waited for at cleanup
	}
	if code, body := get(t, addr, "a", "/"); code != 200 || (body != "first" && body != "second") {
		t.Fatalf("GET = %d %q", code, body)
	}
}
