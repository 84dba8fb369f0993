package supervisor_test

import (
	"context"
	"encoding/json"
	"errors"
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

// cli runs the rockstar binary with args and returns its exit code and
// its output (stdout and stderr together).
func cli(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, rockstarBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("rockstar %s: %v\n%s", strings.Join(args, " "), err, out)
	return 0, ""
}

// lineOf is the 1-based line of the first line of text containing s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the config", s)
	return 0
}

// badTenant is configText with its host naming a tenant that does not exist.
func badTenant(workers int, body string) string {
	return strings.Replace(configText(workers, body), `tenant = "demo"`, `tenant = "nosuch"`, 1)
}

// `rockstar check` is nginx -t: exit 0 for a good config, exit 1 and
// file:line: field: problem for each mistake of a bad one.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := write("good.toml", configText(2, "hello"))
	if code, out := cli(t, "check", "-c", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("check good.toml: exit %d: %s", code, out)
	}

	text := strings.Replace(badTenant(2, "hello"), "workers = 2", "workers = 2\nworkerz = 3", 1)
	bad := write("bad.toml", text)
	code, out := cli(t, "check", "-c", bad)
	if code != 1 {
		t.Errorf("check bad.toml: exit %d, want 1: %s", code, out)
	}
	for _, want := range []string{
		fmt.Sprintf("%s:%d: supervisor.workerz: ", bad, lineOf(t, text, "workerz")),
		fmt.Sprintf("%s:%d: host[0].tenant: ", bad, lineOf(t, text, `"nosuch"`)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check bad.toml: no %q in:\n%s", want, out)
		}
	}

	// A problem found on disk (a missing static root) has its line too.
	text = strings.Replace(configText(2, "hello"), `respond = "hello"`, `root = "no-such-dir"`, 1)
	missing := write("missing.toml", text)
	code, out = cli(t, "check", "-c", missing)
	want := fmt.Sprintf("%s:%d: host[0].root: ", missing, lineOf(t, text, "no-such-dir"))
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("check missing.toml: exit %d, want 1 and %q in:\n%s", code, want, out)
	}

	// A syntax error, and a file that is not there.
	broken := write("broken.toml", "[supervisor]\nworkers = \n")
	if code, out := cli(t, "check", "-c", broken); code != 1 || !strings.Contains(out, broken+":2") {
		t.Errorf("check broken.toml: exit %d, want 1 and %s:2 in:\n%s", code, broken, out)
	}
	none := filepath.Join(dir, "none.toml")
	if code, out := cli(t, "check", "-c", none); code != 1 || !strings.Contains(out, none) {
		t.Errorf("check none.toml: exit %d, want 1 and the file name in:\n%s", code, out)
	}
}

// A bad config on reload, by `rockstar reload` or by HUP, keeps the old
// one serving; the CLI prints the error and exits 1; status, the admin
// endpoint and its metrics count the failures.
func TestReloadBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	pids := m.waitWorkers(2, 10*time.Second)

	text := badTenant(2, "changed")
	m.writeConfig(text)
	code, out := cli(t, "reload", "-c", m.cfgPath)
	want := fmt.Sprintf("%s:%d: host[0].tenant: ", m.cfgPath, lineOf(t, text, `"nosuch"`))
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("rockstar reload of a bad config: exit %d, want 1 and %q in:\n%s", code, want, out)
	}
	code, out = cli(t, "reload", "-s", m.sock)
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("rockstar reload -s of a bad config: exit %d, want 1 and %q in:\n%s", code, want, out)
	}
	m.signal(syscall.SIGHUP)
	failed := m.logs.waitN(t, "reload failed; still serving the old config", 3, 10*time.Second)
	if e, _ := failed["error"].(string); !strings.Contains(e, want) {
		t.Errorf("the log does not say why: %v", failed)
	}

	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Errorf("after a bad reload: %d %q %v, want the old config's answer", code, body, err)
	}
	st := m.status()
	if st.Reloads["failure"] != 3 || st.Reloads["success"] != 0 {
		t.Errorf("status reloads %v, want 3 failures", st.Reloads)
	}
	if got := m.waitWorkers(2, time.Second); !samePIDs(got, pids) {
		t.Errorf("workers changed on a failed reload: %v, were %v", got, pids)
	}
	var adm supervisor.Status
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+m.admin+"/status")), &adm); err != nil {
		t.Fatal(err)
	}
	if adm.Reloads["failure"] != 3 {
		t.Errorf("admin /status reloads %v, want 3 failures", adm.Reloads)
	}
	if metrics := httpGet(t, "http://"+m.admin+"/metrics"); !strings.Contains(metrics, `rockstar_config_reloads_total{result="failure"} 3`) {
		t.Errorf("admin /metrics has no 3 failed reloads:\n%s", metrics)
	}
	if code, out := cli(t, "status", "-s", m.sock); code != 0 || !strings.Contains(out, "failed 3") {
		t.Errorf("rockstar status: exit %d, want the 3 failed reloads in:\n%s", code, out)
	}

	// Fixed, the same reload succeeds.
	m.writeConfig(configText(2, "changed"))
	if code, out := cli(t, "reload", "-c", m.cfgPath); code != 0 || !strings.Contains(out, "reload: ok") {
		t.Errorf("rockstar reload of the fixed config: exit %d: %s", code, out)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "changed" {
		t.Errorf("after the fixed reload: %d %q %v", code, body, err)
	}
	if st := m.status(); st.Reloads["success"] != 1 || st.Reloads["failure"] != 3 {
		t.Errorf("status reloads %v, want 1 success and 3 failures", st.Reloads)
	}
}

func samePIDs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[int]bool{}
	for _, p := range a {
		set[p] = true
	}
	for _, p := range b {
		if !set[p] {
			return false
		}
	}
	return true
}

// httpGet fetches url (the admin endpoint, on 127.0.0.1) and returns the body of a 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}
