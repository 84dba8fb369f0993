package worker

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// quietManager returns a manager whose logs go to the test log only on failure.
func quietManager(t testing.TB) ServerManager {
	t.Helper()
	sm := NewServerManager()
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	t.Cleanup(func() { _ = sm.StopAll() })
	return sm
}

// start creates a server with cfg and router on a fresh loopback port,
// starts it and returns it with its address.
func start(t testing.TB, sm ServerManager, cfg ServerConfig, r *Router) (Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s := sm.NewServer(cfg)
	if r != nil {
		s.SetRouter(r)
	}
	if err := sm.StartAll(); err != nil {
		t.Fatal(err)
	}
	return s, s.Addr()
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get sends a request with the given Host and returns status and body.
func get(t testing.TB, addr, host, path string) (int, string) {
	t.Helper()
	return do(t, "GET", addr, host, path, nil)
}

func do(t testing.TB, method, addr, host, path string, body io.Reader) (int, string) {
	t.Helper()
	code, b, _ := doHeader(t, method, addr, host, path, body)
	return code, b
}

func doHeader(t testing.TB, method, addr, host, path string, body io.Reader) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s (Host %s): %v", method, addr, path, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// statusOf returns the status code of the first response in a raw reply.
func statusOf(reply string) string {
	line, _, _ := strings.Cut(reply, "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// waitFor polls cond every few milliseconds until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
