package main

import (
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/examples/internal/testhttp"
	"github.com/rockstar-dev/rockstar/worker"
)

// TestBasic runs both servers on loopback ports, requests each, and stops
// them as SIGTERM would.
func TestBasic(t *testing.T) {
	sm, server1, server2 := setup()
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Serve(sm, stop,
			func() error { return server1.Listen("127.0.0.1:0") },
			func() error { return server2.Listen("127.0.0.1:0") },
		)
	}()
	if err := lifecycle.WaitRunning(5*time.Second, server1, server2); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		srv  worker.Server
		path string
		want string
	}{
		{server1, "/", "server 1"},
		{server2, "/", "server 2"},
		{server2, "/hello/rockstar", "hello, rockstar"},
	} {
		if body := get(t, tt.srv.Addr(), tt.path); !strings.Contains(body, tt.want) {
			t.Errorf("GET %s%s = %q, want %q", tt.srv.Addr(), tt.path, body, tt.want)
		}
	}
	if n := sm.GetServerCount(); n != 2 {
		t.Errorf("GetServerCount = %d, want 2", n)
	}
	if err := sm.HealthCheck(); err != nil {
		t.Errorf("HealthCheck: %v", err)
	}

	stop <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if sm.IsHealthy() {
		t.Fatal("healthy after the shutdown")
	}
}

// TestBasicPortTaken: a server that cannot bind ends serve with its error,
// and the other one is shut down.
func TestBasicPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // without SO_REUSEPORT: nobody else can bind
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sm, server1, server2 := setup()
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.FatalLevel))
	err = lifecycle.Serve(sm, make(chan os.Signal),
		func() error { return server1.Listen(ln.Addr().String()) },
		func() error { return server2.Listen("127.0.0.1:0") },
	)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("serve = %v, want an error naming %s", err, ln.Addr())
	}
	if server1.IsRunning() || server2.IsRunning() {
		t.Fatal("a server still runs after serve returned")
	}
}

func get(t *testing.T, addr, path string) string {
	t.Helper()
	return testhttp.Do(t, http.MethodGet, "http://"+addr+path, "").Body
}
