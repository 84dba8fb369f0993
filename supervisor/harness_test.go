package supervisor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/internal/testbin"
	"github.com/rockstar-dev/rockstar/supervisor"
)

// rockstarBin is the real binary, built once by TestMain.
var rockstarBin string

func TestMain(m *testing.M) { testbin.Main(m, "../cmd/rockstar", &rockstarBin) }

// master is a running `rockstar run` under test.
type master struct {
	t       testing.TB
	dir     string
	cfgPath string
	cmd     *exec.Cmd
	logs    *logLines
	addr    string // the HTTP address, 127.0.0.1:port
	admin   string // the admin address
	sock    string
	exited  chan struct{}
	copied  chan struct{} // the log copier is done
	pids    sync.Map      // every pid seen, killed at cleanup
}

// configHead is how every test config begins: workers, the master's
// files under run/ beside the config, a 5 s shutdown, logs at level
// (with logExtra as more [log] lines), and the admin endpoint on an
// ephemeral port. Servers and hosts follow.
func configHead(workers int, level, logExtra string) string {
	return fmt.Sprintf(`
[supervisor]
workers = %d
control_socket = "run/ctl.sock"
pid_file = "run/rockstar.pid"
shutdown_timeout = "5s"

[log]
level = %q
%s
[admin]
listen = "127.0.0.1:0"
`, workers, level, logExtra)
}

// baseConfig follows configHead: one server on an ephemeral port, one
// host; %s is its body.
const baseConfig = `
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "hello.test"
tenant = "demo"
respond = "%s"

[[tenant]]
id = "demo"
hosts = ["hello.test"]
`

func configText(workers int, body string) string {
	return configHead(workers, "debug", "") + fmt.Sprintf(baseConfig, body)
}

// startMaster writes cfg into a temp dir and runs the binary on it until ready.
func startMaster(t testing.TB, cfg string) *master {
	t.Helper()
	return startMasterWith(t, cfg, nil)
}

// startMasterWith is startMaster with a hook that may change the command
// (its binary, its environment) before it starts.
func startMasterWith(t testing.TB, cfg string, setup func(*exec.Cmd)) *master {
	t.Helper()
	return startMasterAt(t, t.TempDir(), cfg, setup)
}

// startMasterAt is startMasterWith in dir, which may hold what an earlier
// master left (a state file, a stale socket).
func startMasterAt(t testing.TB, dir, cfg string, setup func(*exec.Cmd)) *master {
	t.Helper()
	m := &master{t: t, dir: dir, cfgPath: filepath.Join(dir, "rockstar.toml"), logs: newLogLines(), exited: make(chan struct{})}
	m.writeConfig(cfg)
	m.cmd = exec.Command(rockstarBin, "run", "-c", m.cfgPath, "--log-format", "json")
	// Under Kubernetes (a CI pod) TERM would stop gracefully by default;
	// the tests set stop_signal_graceful when they want that.
	m.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KUBERNETES_SERVICE_HOST=")
	})
	// A pipe of our own, not an io.Writer: after a USR2 upgrade the new
	// master keeps writing to it, and Wait must not wait for that.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stdout, m.cmd.Stderr = pw, pw
	if setup != nil {
		setup(m.cmd)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	m.copied = make(chan struct{})
	go func() { // ends when every process holding the pipe has exited
		_, _ = io.Copy(m.logs, pr)
		pr.Close()
		close(m.copied)
	}()
	m.pids.Store(m.cmd.Process.Pid, true)
	go func() { // ends when the master exits; cleanup waits for it
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(m.cleanup)
	ready := m.logs.wait(t, "ready", 30*time.Second)
	if ls, ok := ready["listeners"].([]any); ok && len(ls) > 0 {
		m.addr, _, _ = strings.Cut(ls[0].(string), " ")
	}
	adminLine := m.logs.wait(t, "admin endpoint listening", 5*time.Second)
	m.admin, _ = adminLine["listen"].(string)
	m.sock = filepath.Join(dir, "run", "ctl.sock")
	m.rememberWorkers()
	return m
}

func (m *master) writeConfig(cfg string) {
	m.t.Helper()
	tmp := m.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, m.cfgPath); err != nil {
		m.t.Fatal(err)
	}
}

// pid is the pid of the master that serves now (it changes on upgrade).
func (m *master) pid() int {
	b, err := os.ReadFile(filepath.Join(m.dir, "run", "rockstar.pid"))
	if err != nil {
		return m.cmd.Process.Pid
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return m.cmd.Process.Pid
	}
	m.pids.Store(pid, true)
	return pid
}

func (m *master) signal(sig syscall.Signal) {
	m.t.Helper()
	if err := syscall.Kill(m.pid(), sig); err != nil {
		m.t.Fatal(err)
	}
}

// status asks the master over the control socket.
func (m *master) status() supervisor.Status {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := supervisor.Request(ctx, m.sock, supervisor.VerbStatus, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	var st supervisor.Status
	if err := json.Unmarshal(r.Body, &st); err != nil {
		m.t.Fatal(err)
	}
	for _, w := range append(st.Workers, st.Draining...) {
		if w.PID > 0 {
			m.pids.Store(w.PID, true)
		}
	}
	return st
}

func (m *master) rememberWorkers() { m.status() }

// readyWorkers returns the pids of the current generation's workers once
// n of them are ready and none drains.
func (m *master) waitWorkers(n int, d time.Duration) []int {
	m.t.Helper()
	var pids []int
	waitFor(m.t, fmt.Sprintf("%d ready workers", n), d, func() bool {
		st := m.status()
		pids = pids[:0]
		for _, w := range st.Workers {
			if w.State == supervisor.StateReady {
				pids = append(pids, w.PID)
			}
		}
		return len(pids) == n && len(st.Workers) == n && len(st.Draining) == 0
	})
	return pids
}

// cleanup kills by pid every process the test saw, master first.
func (m *master) cleanup() {
	select {
	case <-m.exited:
	default:
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	m.pids.Range(func(k, _ any) bool {
		pid := k.(int)
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return true
	})
	select {
	case <-m.copied:
	case <-time.After(5 * time.Second):
		m.t.Errorf("a process still holds the master's output 5s after cleanup")
	}
	if m.t.Failed() {
		m.t.Logf("master output:\n%s", m.logs.String())
	}
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != "Z"
}

// procStat reads pid's state ("R", "S", "Z", ...) and parent from
// /proc/PID/stat; ok is false when there is no such process.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold anything
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:]) // state, ppid, ...
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err == nil
}

// procStatus is the value of the line key ("VmRSS", "Uid", ...) of
// /proc/PID/status, without the key and its colon.
func procStatus(pid int, key string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return v, true
		}
	}
	return "", false
}

// upgrade sends USR2 and waits until the new master has taken over: it is
// ready, the old one has exited and the pid file names the new one.
func (m *master) upgrade(t *testing.T) {
	t.Helper()
	old := m.pid()
	m.signal(syscall.SIGUSR2)
	m.logs.waitN(t, "ready", 2, 30*time.Second)
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old master did not exit after the upgrade")
	}
	waitFor(t, "the pid file to name the new master", 5*time.Second, func() bool { return m.pid() != old })
}

// get sends one request to the master's listener with a Host header.
func (m *master) get(host, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", "http://"+m.addr+path, nil)
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// logLines collects the master's JSON log lines and lets tests wait for one.
type logLines struct {
	mu    sync.Mutex
	buf   []byte
	lines []map[string]any
	raw   []string
}

func newLogLines() *logLines { return &logLines{} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		l.raw = append(l.raw, line)
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			l.lines = append(l.lines, m)
		}
	}
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.raw, "\n")
}

// find returns the lines whose message is msg.
func (l *logLines) find(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.lines {
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// wait waits for the first line with message msg and returns it.
func (l *logLines) wait(t testing.TB, msg string, d time.Duration) map[string]any {
	t.Helper()
	return l.waitN(t, msg, 1, d)
}

// waitN waits for the n-th line with message msg and returns it.
func (l *logLines) waitN(t testing.TB, msg string, n int, d time.Duration) map[string]any {
	t.Helper()
	var got map[string]any
	waitFor(t, fmt.Sprintf("log line %q #%d", msg, n), d, func() bool {
		found := l.find(msg)
		if len(found) >= n {
			got = found[n-1]
			return true
		}
		return false
	})
	return got
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = bufio.NewReader
