package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/examples/internal/testhttp"
)

// TestMultitenant runs the example's setup and serve on a loopback port,
// requests each host's routes and files, and stops it as SIGTERM would.
func TestMultitenant(t *testing.T) {
	sm, server, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- lifecycle.Serve(sm, stop, func() error { return server.Listen("127.0.0.1:0") }) }()
	if err := lifecycle.WaitRunning(5*time.Second, server); err != nil {
		t.Fatal(err)
	}
	addr := server.Addr()

	tests := []struct {
		host, path string
		code       int
		ctype      string
		body       string
	}{
		{"app1.tenant1.com", "/", 200, "text/html", "<h1>App 1 of tenant 1</h1>"},
		{"app1.tenant1.com", "/api/data", 200, "application/json", `"items":["alpha","beta","gamma"]`},
		{"app1.tenant1.com", "/index.html", 200, "text/html", "static file from app1"},
		{"app1.tenant1.com", "/style.css", 200, "text/css", "#b22"},
		{"APP2.tenant1.com:8080", "/", 200, "text/html", "<h1>App 2 of tenant 1</h1>"},
		{"app2.tenant1.com", "/api/users", 200, "application/json", `{"id":2,"name":"Grace"}`},
		{"app2.tenant1.com", "/style.css", 200, "text/css", "#22b"},
		// A host never falls through to the other host's routes.
		{"app2.tenant1.com", "/api/data", 404, "", ""},
		{"unknown.example.com", "/", 404, "", ""},
	}
	for _, tt := range tests {
		code, ctype, body := get(t, addr, tt.host, tt.path)
		if code != tt.code || !strings.HasPrefix(ctype, tt.ctype) || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s%s = %d %q %q, want %d %q containing %q", tt.host, tt.path, code, ctype, body, tt.code, tt.ctype, tt.body)
		}
	}
	if n := sm.Metrics().Tenants["tenant1"].Requests; n != 8 {
		t.Errorf("tenant1 counted %d requests, want 8", n)
	}

	stop <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if server.IsRunning() {
		t.Fatal("server still running after the shutdown")
	}
}

func get(t *testing.T, addr, host, path string) (code int, ctype, body string) {
	t.Helper()
	r := testhttp.Do(t, http.MethodGet, "http://"+addr+path, host)
	return r.Code, r.Header.Get("Content-Type"), r.Body
}
