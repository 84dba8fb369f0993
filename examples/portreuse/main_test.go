package main

import (
	"errors"
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

// TestPortReuse runs both servers on one loopback address, checks that each
// host reaches its own server's routes and files, that a third server
// cannot claim a host already served there, and stops them as SIGTERM would.
func TestPortReuse(t *testing.T) {
	// A free port for both servers to share.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	sm, server, server2 := setup()
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Serve(sm, stop,
			func() error { return server.Listen(addr) },
			func() error { return server2.Listen(addr) },
		)
	}()
	if err := lifecycle.WaitRunning(5*time.Second, server, server2); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		host, path string
		code       int
		body       string
	}{
		{"site1.example.com", "/", 200, "Welcome to site1"},
		{"site1.example.com", "/about.html", 200, "About site1"},
		{"site2.example.com", "/", 200, "Welcome to site2"},
		{"site2.example.com", "/robots.txt", 200, "User-agent"},
		{"site3.example.com", "/", 200, "site3, from the second server"},
		{"site3.example.com", "/about.html", 200, "About site3"},
		{"site4.example.com", "/", 404, ""},
	} {
		code, body := get(t, addr, tt.host, tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s%s = %d %q, want %d %q", tt.host, tt.path, code, body, tt.code, tt.body)
		}
	}

	// A third server claiming site1 on the same address is refused.
	thief := sm.NewServer(worker.ServerConfig{HostConfigs: map[string]*worker.HostConfig{"site1.example.com": {}}})
	if err := thief.Listen(addr); !errors.Is(err, worker.ErrHostOwned) {
		t.Errorf("a third server's Listen claiming site1 = %v, want ErrHostOwned", err)
	}

	stop <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func get(t *testing.T, addr, host, path string) (int, string) {
	t.Helper()
	r := testhttp.Do(t, http.MethodGet, "http://"+addr+path, host)
	return r.Code, r.Body
}
