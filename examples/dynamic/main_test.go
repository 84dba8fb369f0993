package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/examples/internal/testhttp"
)

// TestDynamic adds a server through the admin API, uses it, lists and
// removes it, and stops everything as SIGTERM would.
func TestDynamic(t *testing.T) {
	sm, admin, err := setup("127.0.0.1:0", filepath.Join(t.TempDir(), "state.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if _, ok := sm.GetServer("127.0.0.1:0"); !ok {
		t.Fatal("the admin server is not registered under its address")
	}
	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Serve(sm, stop, func() error { return admin.Listen("127.0.0.1:0") })
	}()
	if err := lifecycle.WaitRunning(5*time.Second, admin); err != nil {
		t.Fatal(err)
	}
	api := "http://" + admin.Addr() + "/servers"

	code, added := do(t, "POST", api+"?addr=127.0.0.1:0")
	added = strings.TrimSpace(added)
	if code != http.StatusCreated || !strings.HasPrefix(added, "127.0.0.1:") {
		t.Fatalf("POST /servers = %d %q", code, added)
	}
	if code, body := do(t, "GET", "http://"+added+"/"); code != 200 || !strings.Contains(body, "hello from "+added) {
		t.Errorf("GET the added server = %d %q", code, body)
	}
	if code, body := do(t, "GET", api); code != 200 ||
		!strings.Contains(body, "Total servers: 2") || !strings.Contains(body, added+" running=true protocol=HTTP/1.1") {
		t.Errorf("GET /servers = %d %q", code, body)
	}
	if code, body := do(t, "POST", api+"?addr="+added); code != http.StatusConflict {
		t.Errorf("POST /servers with a used address = %d %q, want 409", code, body)
	}
	if code, body := do(t, "DELETE", api+"?addr="+admin.Addr()); code != http.StatusConflict {
		t.Errorf("DELETE the admin server = %d %q, want 409", code, body)
	}
	if code, body := do(t, "DELETE", api+"?addr="+added); code != 200 {
		t.Errorf("DELETE /servers = %d %q", code, body)
	}
	if code, _ := do(t, "DELETE", api+"?addr="+added); code != http.StatusNotFound {
		t.Errorf("DELETE again = %d, want 404", code)
	}
	if n := sm.GetServerCount(); n != 1 {
		t.Errorf("GetServerCount = %d after the removal, want 1", n)
	}

	stop <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	r := testhttp.Do(t, method, url, "")
	return r.Code, r.Body
}
