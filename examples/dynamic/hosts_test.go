package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/supervisor"
)

// serve starts setup's admin server with state and token; the returned
// func stops it as SIGTERM would.
func serve(t *testing.T, state, token string) (addr string, stop func()) {
	t.Helper()
	sm, admin, err := setup("127.0.0.1:0", state, token)
	if err != nil {
		t.Fatal(err)
	}
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	sig := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- lifecycle.Serve(sm, sig, func() error { return admin.Listen("127.0.0.1:0") }) }()
	if err := lifecycle.WaitRunning(5*time.Second, admin); err != nil {
		t.Fatal(err)
	}
	return admin.Addr(), func() {
		sig <- syscall.SIGTERM
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// call sends one request with a Host header, a bearer token and an
// If-Match; it returns the status, the ETag and the body.
func call(t *testing.T, method, url, host, token, ifMatch, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag"), string(b)
}

// The program answers the binary's runtime API with the binary's types:
// a host PUT is served at once, ETags and If-Match work, a bad body names
// its field, the token guards it, and the hosts survive a restart in the
// state file.
func TestDynamicHostsAPI(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	addr, stop := serve(t, state, "tok")
	api := "http://" + addr + "/v1/hosts/app.test"

	if code, _, _ := call(t, "PUT", api, "", "", "", `{"respond": "hi"}`); code != 401 {
		t.Fatalf("PUT without a token: %d, want 401", code)
	}
	if code, _, _ := call(t, "PUT", api, "", "wrong", "", `{"respond": "hi"}`); code != 401 {
		t.Fatalf("PUT with a wrong token: %d, want 401", code)
	}
	code, etag, body := call(t, "PUT", api, "", "tok", "", `{"respond": "hi"}`)
	if code != 201 || etag == "" {
		t.Fatalf("PUT: %d %q %s", code, etag, body)
	}
	if code, _, body := call(t, "GET", "http://"+addr+"/", "app.test", "", "", ""); code != 200 || body != "hi" {
		t.Fatalf("GET app.test: %d %q", code, body)
	}
	code, _, body = call(t, "PUT", api, "", "tok", "", `{"respond": "x", "respond_status": 1000}`)
	var apiErr supervisor.APIError
	if err := json.Unmarshal([]byte(body), &apiErr); code != 422 || err != nil || len(apiErr.Problems) == 0 || apiErr.Problems[0].Field != "respond_status" {
		t.Fatalf("bad PUT: %d %s, want 422 naming respond_status", code, body)
	}
	if code, _, _ := call(t, "PUT", api, "", "tok", `"stale"`, `{"respond": "new"}`); code != 412 {
		t.Fatalf("PUT with a stale If-Match: %d, want 412", code)
	}
	if code, _, body := call(t, "PUT", api, "", "tok", etag, `{"respond": "hi2"}`); code != 200 {
		t.Fatalf("PUT with the ETag: %d %s", code, body)
	}
	if code, _, body := call(t, "GET", "http://"+addr+"/v1/hosts", "", "tok", "", ""); code != 200 || !strings.Contains(body, `"app.test"`) {
		t.Fatalf("GET /v1/hosts: %d %s", code, body)
	}
	stop()

	addr, stop = serve(t, state, "tok")
	defer stop()
	if code, _, body := call(t, "GET", "http://"+addr+"/", "app.test", "", "", ""); code != 200 || body != "hi2" {
		t.Fatalf("GET app.test after a restart: %d %q", code, body)
	}
	if code, _, _ := call(t, "DELETE", "http://"+addr+"/v1/hosts/app.test", "", "tok", "", ""); code != 204 {
		t.Fatalf("DELETE: %d, want 204", code)
	}
	if code, _, body := call(t, "GET", "http://"+addr+"/", "app.test", "", "", ""); code == 200 && body == "hi2" {
		t.Fatalf("app.test is still served after DELETE")
	}
}
