package supervisor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor"
)

// apiToken is the bearer token of the API tests' admin.token_file.
const apiToken = "s3cret-token"

// apiConfig is configText(2, ...) with admin.token_file set to a file
// holding apiToken.
func apiConfig(t *testing.T) string {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return configHead(2, "debug", "") + "token_file = \"" + tok + "\"\n" + strings.Replace(baseConfig, "%s", "hello", 1)
}

// sockAPI sends one runtime API request over the control socket.
func sockAPI(t *testing.T, m *master, method, path, ifMatch, ifNoneMatch, body string) (supervisor.APIResponse, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := supervisor.APIRequest{Method: method, Path: path, IfMatch: ifMatch, IfNoneMatch: ifNoneMatch}
	req.Body = body
	r, err := supervisor.Request(ctx, m.sock, supervisor.VerbAPI, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var resp supervisor.APIResponse
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(resp.Body, &out)
	return resp, out
}

// httpAPI sends one runtime API request to the admin endpoint with token
// ("" for no Authorization).
func httpAPI(t *testing.T, m *master, token, method, path, ifMatch, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+m.admin+path, bytes.NewReader([]byte(body)))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp, out
}

// servedEverywhere sends requests for host on fresh connections, enough
// for every worker to get some, and checks each answer.
func servedEverywhere(t *testing.T, m *master, host string, want func(code int, body string) bool) {
	t.Helper()
	for i := range 40 {
		code, body, err := m.get(host, "/")
		if err != nil || !want(code, body) {
			t.Fatalf("%s, request %d: %d %q, %v", host, i, code, body, err)
		}
	}
}

func answers(text string) func(int, string) bool {
	return func(code int, body string) bool { return code == 200 && body == text }
}

func unknownHost(code int, _ string) bool { return code == 404 || code == 421 }

// firstProblemField is the field of the first problem of an APIError body.
func firstProblemField(out map[string]any) string {
	ps, _ := out["problems"].([]any)
	if len(ps) == 0 {
		return ""
	}
	f, _ := ps[0].(map[string]any)["field"].(string)
	return f
}

// The runtime API over the control socket and the admin endpoint: a host
// added is served by every worker when the call returns, a bad body
// changes nothing and names the field, preconditions give 412, HTTP needs
// the token, and every acknowledged change survives a reload, a restart
// and kill -9 of the master, from the state file.
func TestRuntimeAPIHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	cfg := apiConfig(t)
	m := startMaster(t, cfg)
	m.waitWorkers(2, 10*time.Second)

	// Create-only over the socket.
	resp, _ := sockAPI(t, m, "PUT", "/v1/hosts/new.test", "", "*", `{"respond": "new"}`)
	if resp.Status != 201 || resp.ETag == "" {
		t.Fatalf("PUT new.test: %d %s", resp.Status, resp.Body)
	}
	servedEverywhere(t, m, "new.test", answers("new"))
	if resp, _ := sockAPI(t, m, "PUT", "/v1/hosts/new.test", "", "*", `{"respond": "again"}`); resp.Status != 412 {
		t.Fatalf("PUT If-None-Match * of an existing host: %d, want 412", resp.Status)
	}
	// Bad bodies: 422 naming the field; nothing changes.
	for body, field := range map[string]string{
		`{"respond": "x", "respond_status": 1000}`: "respond_status",
		`{"respond": "x", "respnd": "y"}`:          "respnd",
		`{"root": "/nonexistent"}`:                 "root",
	} {
		resp, out := sockAPI(t, m, "PUT", "/v1/hosts/new.test", "", "", body)
		if resp.Status != 422 || firstProblemField(out) != field {
			t.Fatalf("PUT %s: %d %s; want 422 naming %s", body, resp.Status, resp.Body, field)
		}
	}
	if resp, _ := sockAPI(t, m, "PUT", "/v1/hosts/x.test", "", "", `{"respond": `); resp.Status != 400 {
		t.Fatalf("PUT of broken JSON: %d, want 400", resp.Status)
	}
	// A config host its tenant lists cannot go: the config would not validate.
	if resp, _ := sockAPI(t, m, "DELETE", "/v1/hosts/hello.test", "", "", ""); resp.Status != 422 {
		t.Fatalf("DELETE of a host a tenant lists: %d %s, want 422", resp.Status, resp.Body)
	}
	servedEverywhere(t, m, "new.test", answers("new"))
	servedEverywhere(t, m, "hello.test", answers("hello"))

	// Optimistic concurrency.
	get, _ := sockAPI(t, m, "GET", "/v1/hosts/new.test", "", "", "")
	if get.Status != 200 || get.ETag != resp.ETag {
		t.Fatalf("GET new.test: %d ETag %s, want 200 %s", get.Status, get.ETag, resp.ETag)
	}
	if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/new.test", `"stale"`, "", `{"respond": "new2"}`); r.Status != 412 {
		t.Fatalf("PUT with a stale If-Match: %d, want 412", r.Status)
	}
	if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/new.test", get.ETag, "", `{"respond": "new2"}`); r.Status != 200 || r.ETag == get.ETag {
		t.Fatalf("PUT with the current If-Match: %d %s", r.Status, r.Body)
	}
	servedEverywhere(t, m, "new.test", answers("new2"))
	// Two writers with the same version: one wins, the other gets 412.
	cur, _ := sockAPI(t, m, "GET", "/v1/hosts/new.test", "", "", "")
	codes := make(chan int, 2)
	for _, text := range []string{"w1", "w2"} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req := supervisor.APIRequest{Method: "PUT", Path: "/v1/hosts/new.test", IfMatch: cur.ETag, Body: `{"respond": "` + text + `"}`}
			var resp supervisor.APIResponse
			r, err := supervisor.Request(ctx, m.sock, supervisor.VerbAPI, req)
			if err == nil {
				err = json.Unmarshal(r.Body, &resp)
			}
			if err != nil {
				resp.Status = -1
			}
			codes <- resp.Status
		}()
	}
	if a, b := <-codes, <-codes; a+b != 200+412 {
		t.Fatalf("two PUTs with the same If-Match: %d and %d, want 200 and 412", a, b)
	}
	if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/new.test", "", "", `{"respond": "new2"}`); r.Status != 200 {
		t.Fatalf("PUT new.test back: %d", r.Status)
	}
	if r, _ := sockAPI(t, m, "DELETE", "/v1/hosts/new.test", get.ETag, "", ""); r.Status != 412 {
		t.Fatalf("DELETE with a stale If-Match: %d, want 412", r.Status)
	}

	// HTTP: the token or nothing.
	if r, _ := httpAPI(t, m, "", "GET", "/v1/hosts", "", ""); r.StatusCode != 401 {
		t.Fatalf("GET /v1/hosts without a token: %d, want 401", r.StatusCode)
	}
	if r, _ := httpAPI(t, m, "wrong", "PUT", "/v1/hosts/http.test", "", `{"respond": "h"}`); r.StatusCode != 401 {
		t.Fatalf("PUT with a wrong token: %d, want 401", r.StatusCode)
	}
	unknown := func(host string) { servedEverywhere(t, m, host, unknownHost) }
	unknown("http.test")
	if r, _ := httpAPI(t, m, apiToken, "PUT", "/v1/hosts/http.test", "", `{"respond": "h"}`); r.StatusCode != 201 || r.Header.Get("ETag") == "" {
		t.Fatalf("PUT with the token: %d", r.StatusCode)
	}
	servedEverywhere(t, m, "http.test", answers("h"))
	for _, who := range []string{"socket uid ", "token 127.0.0.1:"} {
		found := false
		for _, l := range m.logs.find("runtime API change") {
			found = found || strings.HasPrefix(l["who"].(string), who)
		}
		if !found {
			t.Errorf("no runtime API change was logged with who %q", who)
		}
	}
	if r, out := httpAPI(t, m, apiToken, "PUT", "/v1/hosts/http.test", "", `{"respond": "h", "headers": 3}`); r.StatusCode != 422 || firstProblemField(out) != "headers" {
		t.Fatalf("bad PUT with the token: %d %v", r.StatusCode, out)
	}
	if r, _ := sockAPI(t, m, "DELETE", "/v1/hosts/new.test", "", "", ""); r.Status != 204 {
		t.Fatalf("DELETE new.test: %d %s", r.Status, r.Body)
	}
	unknown("new.test")
	// A tenant and a config host's change, so that the state holds more.
	if r, _ := sockAPI(t, m, "PUT", "/v1/tenants/t2", "", "", `{"hosts": ["http.test"], "rate_limit": {"requests_per_second": 1000, "burst": 100}}`); r.Status != 201 {
		t.Fatalf("PUT tenant t2: %d %s", r.Status, r.Body)
	}
	if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/hello.test", "", "", `{"tenant": "demo", "respond": "hello2"}`); r.Status != 200 {
		t.Fatalf("PUT hello.test: %d %s", r.Status, r.Body)
	}

	check := func(when string) {
		t.Helper()
		t.Logf("checking the state %s", when)
		servedEverywhere(t, m, "http.test", answers("h"))
		servedEverywhere(t, m, "hello.test", answers("hello2"))
		unknown("new.test")
		if r, out := sockAPI(t, m, "GET", "/v1/tenants/t2", "", "", ""); r.Status != 200 || out["id"] != "t2" {
			t.Fatalf("%s: GET tenant t2: %d %s", when, r.Status, r.Body)
		}
	}
	check("before anything")
	mustReload(t, m)
	check("after a reload")
	m.signal(syscall.SIGHUP)
	m.logs.waitN(t, "reloaded", 2, 10*time.Second)
	check("after a HUP")

	dir := m.dir
	m.signal(syscall.SIGTERM)
	waitExit(t, m)
	m = startMasterAt(t, dir, cfg, nil)
	check("after a restart")

	// kill -9 right after an acknowledged change.
	if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/late.test", "", "", `{"respond": "late"}`); r.Status != 201 {
		t.Fatalf("PUT late.test: %d %s", r.Status, r.Body)
	}
	_ = m.cmd.Process.Kill()
	waitExit(t, m)
	for _, pid := range m.workerPIDs() {
		waitFor(t, "the killed master's workers to exit", 10*time.Second, func() bool { return !alive(pid) })
	}
	m = startMasterAt(t, dir, cfg, nil)
	check("after kill -9")
	servedEverywhere(t, m, "late.test", answers("late"))
	if code, out := cli(t, "check", "-c", m.cfgPath); code != 0 {
		t.Fatalf("rockstar check with the state: exit %d: %s", code, out)
	}
	if r, out := httpAPI(t, m, apiToken, "GET", "/v1/config", "", ""); r.StatusCode != 200 || len(out["host"].([]any)) != 3 {
		t.Fatalf("GET /v1/config: %d %v", r.StatusCode, out)
	}
	m.upgrade(t)
	check("after a USR2 upgrade")

	// Deleting a config host keeps a tombstone in the state, across a restart.
	if r, _ := sockAPI(t, m, "PUT", "/v1/tenants/demo", "", "", `{"hosts": ["late.test"]}`); r.Status != 200 {
		t.Fatalf("PUT tenant demo: %d %s", r.Status, r.Body)
	}
	if r, _ := sockAPI(t, m, "DELETE", "/v1/hosts/hello.test", "", "", ""); r.Status != 204 {
		t.Fatalf("DELETE hello.test: %d %s", r.Status, r.Body)
	}
	unknown("hello.test")
	var st struct {
		Hosts map[string]any `json:"hosts"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "rockstar.state.json"))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if v, ok := st.Hosts["hello.test"]; err != nil || !ok || v != nil {
		t.Fatalf("the state file has no tombstone for hello.test (%v): %s", err, b)
	}
	pid := m.pid()
	m.signal(syscall.SIGTERM)
	waitFor(t, "the upgraded master to exit", 20*time.Second, func() bool { return !alive(pid) })
	m = startMasterAt(t, dir, cfg, nil)
	unknown("hello.test")
	servedEverywhere(t, m, "late.test", answers("late"))
}

// Without admin.token_file the admin endpoint refuses /v1 (403), reads
// included; and rockstar check reports a bad state file's object and
// field.
func TestRuntimeAPINoTokenAndCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(1, "hello"))
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		if r, _ := httpAPI(t, m, apiToken, method, "/v1/hosts/x.test", "", `{"respond": "x"}`); r.StatusCode != 403 {
			t.Fatalf("%s /v1 without admin.token_file: %d, want 403", method, r.StatusCode)
		}
	}
	servedEverywhere(t, m, "x.test", unknownHost)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "rockstar.toml")
	if err := os.WriteFile(cfg, []byte(configText(1, "hello")), 0o644); err != nil {
		t.Fatal(err)
	}
	state := `{"hosts": {"bad.test": {"hostname": "bad.test", "respond": "x", "respond_status": 1000}}}`
	if err := os.WriteFile(filepath.Join(dir, "rockstar.state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := cli(t, "check", "-c", cfg)
	if code != 1 || !strings.Contains(out, "rockstar.state.json: host bad.test: respond_status:") {
		t.Fatalf("rockstar check with a bad state: exit %d: %s", code, out)
	}
}

func waitExit(t *testing.T, m *master) {
	t.Helper()
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not exit")
	}
}

// workerPIDs are the pids of every worker the test saw.
func (m *master) workerPIDs() []int {
	var out []int
	m.pids.Range(func(k, _ any) bool {
		if pid := k.(int); pid != m.cmd.Process.Pid {
			out = append(out, pid)
		}
		return true
	})
	return out
}

// rockstar host and rockstar tenant change the running master in place
// through the control socket.
func TestRuntimeAPICLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, apiConfig(t))
	m.waitWorkers(2, 10*time.Second)
	run := func(want int, args ...string) string {
		t.Helper()
		code, out := cli(t, append(args, "-s", m.sock)...)
		if code != want {
			t.Fatalf("rockstar %s: exit %d, want %d: %s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	run(0, "host", "add", "cli.test", "--respond", "hi")
	servedEverywhere(t, m, "cli.test", answers("hi"))
	if out := run(1, "host", "add", "cli.test", "--respond", "again"); !strings.Contains(out, "412") {
		t.Fatalf("a second add: %s", out)
	}
	if out := run(1, "host", "set", "cli.test", "--status", "1000"); !strings.Contains(out, "respond_status") {
		t.Fatalf("a bad set names no field: %s", out)
	}
	servedEverywhere(t, m, "cli.test", answers("hi"))
	run(0, "host", "set", "cli.test", "--respond", "hi2", "--status", "201")
	servedEverywhere(t, m, "cli.test", func(code int, body string) bool { return code == 201 && body == "hi2" })
	body := filepath.Join(t.TempDir(), "h.json")
	if err := os.WriteFile(body, []byte(`{"respond": "from file", "headers": {"X-From": "file"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run(0, "host", "add", "file.test", "-f", body)
	servedEverywhere(t, m, "file.test", answers("from file"))
	run(0, "tenant", "add", "t9", "--hosts", "cli.test,file.test", "--rps", "1000", "--burst", "10")
	if out := run(0, "tenant", "ls"); !strings.Contains(out, "t9") {
		t.Fatalf("tenant ls: %s", out)
	}
	if out := run(0, "host", "ls"); !strings.Contains(out, "cli.test") || !strings.Contains(out, "hello.test") {
		t.Fatalf("host ls: %s", out)
	}
	if out := run(1, "host", "rm", "cli.test"); !strings.Contains(out, "422") {
		t.Fatalf("removing a host a tenant lists: %s", out)
	}
	run(0, "tenant", "rm", "t9")
	run(0, "host", "rm", "cli.test")
	servedEverywhere(t, m, "cli.test", unknownHost)
	if code, out := cli(t, "help", "host"); code != 0 || !strings.Contains(out, "-respond") {
		t.Fatalf("help host: exit %d: %s", code, out)
	}
}

// A change that validates but that a worker fails to apply (a root the
// master may stat but the workers, as nobody, may not open) is refused
// and changes nothing: the workers serve the old hosts, the state file
// does not have it, and the next change works.
func TestRuntimeAPIWorkerFailureChangesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	_, bin := nobodyBinary(t)
	cfg := strings.Replace(apiConfig(t), "[supervisor]\n", "[supervisor]\nuser = \"nobody\"\n", 1)
	m := startMasterWith(t, cfg, func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin })
	m.waitWorkers(2, 10*time.Second)
	private := t.TempDir() // 0700, root's
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	r, out := sockAPI(t, m, "PUT", "/v1/hosts/private.test", "", "", `{"root": "`+private+`"}`)
	if r.Status != 500 || !strings.Contains(fmt.Sprint(out["error"]), "root") || !strings.Contains(fmt.Sprint(out["error"]), "nothing changed") {
		t.Fatalf("PUT of a root the workers cannot open: %d %s", r.Status, r.Body)
	}
	if r, _ := sockAPI(t, m, "GET", "/v1/hosts/private.test", "", "", ""); r.Status != 404 {
		t.Fatalf("GET after the failed PUT: %d", r.Status)
	}
	servedEverywhere(t, m, "private.test", unknownHost)
	servedEverywhere(t, m, "hello.test", answers("hello"))
	if b, err := os.ReadFile(filepath.Join(m.dir, "rockstar.state.json")); err == nil && strings.Contains(string(b), "private.test") {
		t.Fatalf("the state file kept the failed change: %s", b)
	}
	if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/after.test", "", "", `{"respond": "after"}`); r.Status != 201 {
		t.Fatalf("PUT after the failure: %d %s", r.Status, r.Body)
	}
	servedEverywhere(t, m, "after.test", answers("after"))
}
