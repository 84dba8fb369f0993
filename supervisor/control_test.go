package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The control socket is mode 0600; an existing directory that only its
// owner can write is used as it is, its mode kept.
func TestControlSocketMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMasterWith(t, configText(1, "hello"), func(c *exec.Cmd) {
		run := filepath.Join(filepath.Dir(c.Args[3]), "run") // run -c FILE
		if err := os.MkdirAll(run, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(run, 0o755); err != nil {
			t.Fatal(err)
		}
	})
	fi, err := os.Lstat(m.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket of mode 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(m.sock))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o755 {
		t.Errorf("control socket directory mode %v, want its own 0755 kept", di.Mode().Perm())
	}
	var st syscall.Stat_t
	if err := syscall.Stat(m.sock, &st); err != nil || int(st.Uid) != os.Geteuid() {
		t.Errorf("control socket owned by uid %d, want %d (%v)", st.Uid, os.Geteuid(), err)
	}
}

// `rockstar status` (by -s SOCKET and by -c FILE) shows the master's pid,
// generation and uptime, and a row per worker with its slot, pid, state,
// uptime, restarts, requests, active connections and last health answer.
func TestControlStatusCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	m.waitWorkers(2, 10*time.Second)
	const n = 10
	for i := 0; i < n; i++ {
		getClose(t, m.addr, "hello.test")
	}
	// The counts come with the health answers, once a second.
	waitFor(t, "health answers that count the requests", 5*time.Second, func() bool {
		var total uint64
		for _, w := range m.status().Workers {
			if w.LastHealth < 0 {
				return false
			}
			total += w.Requests
		}
		return total >= n
	})
	want := m.status()

	for _, args := range [][]string{{"-s", m.sock}, {"-c", m.cfgPath}} {
		code, out := cli(t, append([]string{"status"}, args...)...)
		if code != 0 {
			t.Fatalf("rockstar status %v: exit %d: %s", args, code, out)
		}
		lines := strings.Split(out, "\n")
		head := fmt.Sprintf("master pid %d  generation %d  uptime ", m.cmd.Process.Pid, want.Generation)
		if !strings.HasPrefix(lines[0], head) {
			t.Errorf("rockstar status %v: first line %q, want %q...", args, lines[0], head)
		}
		if f := strings.Fields(lines[0]); len(f) < 7 || !parsesAsDuration(f[6]) {
			t.Errorf("rockstar status %v: no uptime in %q", args, lines[0])
		}
		header := -1
		for i, l := range lines {
			if strings.Join(strings.Fields(l), " ") == "SLOT PID STATE UPTIME RESTARTS REQUESTS ACTIVE LAST HEALTH" {
				header = i
			}
		}
		if header < 0 {
			t.Fatalf("rockstar status %v: no worker table header in:\n%s", args, out)
		}
		var rows [][]string
		for _, l := range lines[header+1:] {
			if f := strings.Fields(l); len(f) > 0 {
				rows = append(rows, f)
			}
		}
		if len(rows) != len(want.Workers) {
			t.Fatalf("rockstar status %v: %d worker rows, want %d:\n%s", args, len(rows), len(want.Workers), out)
		}
		var requests uint64
		for i, w := range want.Workers {
			f := rows[i]
			// SLOT PID STATE UPTIME RESTARTS REQUESTS ACTIVE <age> ago
			if len(f) != 9 || f[0] != strconv.Itoa(w.Slot) || f[1] != strconv.Itoa(w.PID) || f[2] != "ready" ||
				!parsesAsDuration(f[3]) || f[4] != "0" || f[6] != "0" || f[8] != "ago" || !parsesAsDuration(f[7]) {
				t.Errorf("rockstar status %v: row %q, want slot %d pid %d ready ... 0 restarts, 0 active, a health age", args, f, w.Slot, w.PID)
				continue
			}
			r, err := strconv.ParseUint(f[5], 10, 64)
			if err != nil {
				t.Errorf("rockstar status %v: requests %q", args, f[5])
			}
			requests += r
		}
		if requests < n {
			t.Errorf("rockstar status %v: %d requests in all, want at least %d:\n%s", args, requests, n, out)
		}
	}
}

func parsesAsDuration(s string) bool {
	_, err := time.ParseDuration(s)
	return err == nil
}

// `rockstar stop` stops at once, `rockstar stop --graceful` drains first;
// both by the control socket, found by -s or -c.
func TestControlStopCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	for _, tc := range []struct {
		name     string
		graceful bool
		args     func(m *master) []string
	}{
		{"stop -s", false, func(m *master) []string { return []string{"stop", "-s", m.sock} }},
		{"stop --graceful -c", true, func(m *master) []string { return []string{"stop", "--graceful", "-c", m.cfgPath} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startMaster(t, configText(2, "hello"))
			workers := m.waitWorkers(2, 10*time.Second)
			sent := time.Now()
			code, out := cli(t, tc.args(m)...)
			if code != 0 || !strings.Contains(out, "stop: requested") {
				t.Errorf("rockstar %s: exit %d: %s", tc.name, code, out)
			}
			assertStopped(t, m, workers, tc.graceful, sent, 10*time.Second)
			// Nobody answers any more.
			if code, out := cli(t, "status", "-s", m.sock); code != 1 {
				t.Errorf("rockstar status after stop: exit %d, want 1: %s", code, out)
			}
		})
	}
}

// `rockstar version` prints the version, and asks the master with -s:
// the master answers its whole BuildInfo, the version the one in Status.
func TestControlVersionCLI(t *testing.T) {
	if code, out := cli(t, "version"); code != 0 || !strings.HasPrefix(out, "rockstar ") {
		t.Errorf("rockstar version: exit %d: %q", code, out)
	}
	if testing.Short() {
		return
	}
	m := startMaster(t, configText(1, "hello"))
	code, out := cli(t, "version", "-s", m.sock)
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) != 5 || lines[0] != "rockstar "+m.status().Version ||
		!strings.HasPrefix(lines[1], "revision ") || !strings.HasPrefix(lines[2], "time ") ||
		lines[3] != "go "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("rockstar version -s: exit %d: %q", code, out)
	}
}

// The pid file names the master once it is ready; READY=1 goes to
// $NOTIFY_SOCKET then, and the workers do not see that variable.
func TestControlPIDFileAndNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	notify := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := startMasterWith(t, configText(2, "hello"), func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
	})
	pid := m.cmd.Process.Pid

	b, err := os.ReadFile(filepath.Join(m.dir, "run", "rockstar.pid"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("pid file %q (%v), want %d", b, err, pid)
	}

	_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatalf("no notification on NOTIFY_SOCKET: %v", err)
	}
	msg := strings.Split(string(buf[:n]), "\n")
	if len(msg) < 1 || msg[0] != "READY=1" || !containsLine(msg, "MAINPID="+strconv.Itoa(pid)) {
		t.Errorf("notification %q, want READY=1 and MAINPID=%d", buf[:n], pid)
	}

	for _, w := range m.waitWorkers(2, 5*time.Second) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(env), "NOTIFY_SOCKET=") {
			t.Errorf("worker %d has NOTIFY_SOCKET in its environment", w)
		}
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// A client of another user is refused by the master (SO_PEERCRED), even
// when the socket's file mode would let it connect.
func TestControlPeerOfAnotherUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user (nobody, 65534)")
	}
	// A copy of the CLI that nobody may run, out of reach of the 0700 build dir.
	binDir, err := os.MkdirTemp("", "rockstar-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	bin := filepath.Join(binDir, "rockstar")
	data, err := os.ReadFile(rockstarBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}

	m := startMaster(t, configText(1, "hello"))
	// Open the way to the socket: the directories and the socket itself.
	for _, p := range []string{filepath.Dir(m.dir), m.dir, filepath.Dir(m.sock)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(m.sock, 0o666); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "status", "-s", m.sock)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("rockstar status as nobody: %v, want exit 1 and permission denied: %s", err, out)
	}
	refused := m.logs.wait(t, "control socket: refused a peer of another user", 5*time.Second)
	if refused["uid"] != float64(65534) {
		t.Errorf("refusal line %v, want uid 65534", refused)
	}
	// The master's own user is still served.
	if code, out := cli(t, "status", "-s", m.sock); code != 0 {
		t.Errorf("rockstar status as root after the refusal: exit %d: %s", code, out)
	}
}
