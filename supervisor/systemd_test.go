package supervisor_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystemd is the service manager's end of $NOTIFY_SOCKET: a unixgram
// socket that keeps every datagram the master sends, with the sender's pid
// (SCM_CREDENTIALS), as systemd reads them.
type fakeSystemd struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []notification
}

// notification is one datagram: who sent it and its assignments.
type notification struct {
	pid   int
	lines []string
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: a socket path fits 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &fakeSystemd{path: filepath.Join(dir, "notify.sock")}
	s.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	done := make(chan struct{})
	t.Cleanup(func() { s.conn.Close(); <-done })
	go func() {
		defer close(done)
		buf, oob := make([]byte, 64<<10), make([]byte, 1024)
		for {
			n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			msg := notification{pid: -1, lines: strings.Split(string(buf[:n]), "\n")}
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, cm := range cms {
					if cred, err := unix.ParseUnixCredentials(&cm); err == nil {
						msg.pid = int(cred.Pid)
					}
				}
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, msg)
			s.mu.Unlock()
		}
	}()
	return s
}

// setup is a startMasterWith hook that points the master at s, with more
// environment.
func (s *fakeSystemd) setup(env ...string) func(*exec.Cmd) {
	return func(c *exec.Cmd) {
		c.Env = append(append(os.Environ(), "NOTIFY_SOCKET="+s.path), env...)
	}
}

// messages is every datagram so far, from any sender.
func (s *fakeSystemd) messages() []notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notification(nil), s.msgs...)
}

// accepted is what systemd takes with NotifyAccess=main, the unit's
// setting: the messages of the main process, which starts as pid and
// changes when the main process says MAINPID=.
func (s *fakeSystemd) accepted(pid int) [][]string {
	var out [][]string
	for _, m := range s.messages() {
		if m.pid != pid {
			continue
		}
		out = append(out, m.lines)
		if v := value(m.lines, "MAINPID="); v != "" {
			pid, _ = strconv.Atoi(v)
		}
	}
	return out
}

// states is the sequence of state changes said so far (READY, RELOADING,
// STOPPING, MAINPID), leaving out the messages that only update STATUS or
// feed the watchdog, and each one's message.
func (s *fakeSystemd) states() ([]string, [][]string) {
	var names []string
	var msgs [][]string
	for _, m := range s.messages() {
		for _, a := range m.lines {
			if name, ok := strings.CutSuffix(a, "=1"); ok && name != "WATCHDOG" {
				names, msgs = append(names, name), append(msgs, m.lines)
				break
			}
		}
	}
	return names, msgs
}

// waitStates waits until the state changes are want, and returns their
// messages.
func (s *fakeSystemd) waitStates(t *testing.T, want ...string) [][]string {
	t.Helper()
	var got []string
	var msgs [][]string
	waitFor(t, fmt.Sprintf("notifications %v", want), 30*time.Second, func() bool {
		got, msgs = s.states()
		return len(got) >= len(want)
	})
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("notifications %v, want %v\nall: %v", got, want, s.messages())
	}
	return msgs
}

// count is how many messages hold the assignment a.
func (s *fakeSystemd) count(a string) int {
	n := 0
	for _, m := range s.messages() {
		for _, l := range m.lines {
			if l == a {
				n++
				break
			}
		}
	}
	return n
}

// value is the value of the assignment key= in m, "" if there is none.
func value(m []string, key string) string {
	for _, a := range m {
		if v, ok := strings.CutPrefix(a, key); ok {
			return v
		}
	}
	return ""
}

func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

// The master tells systemd what it does, in the order Type=notify-reload
// needs: READY=1 (with its pid and a status) when it serves; RELOADING=1
// with the monotonic time, then READY=1, for a good reload and for a bad
// one, which leaves the old config serving; STOPPING=1 when it stops, and
// nothing after.
func TestSystemdNotifySequence(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	sd := newFakeSystemd(t)
	m := startMasterWith(t, configText(2, "one"), sd.setup())
	pid := m.cmd.Process.Pid

	ready := sd.waitStates(t, "READY")[0]
	if got := value(ready, "MAINPID="); got != strconv.Itoa(pid) {
		t.Errorf("READY=1 with MAINPID=%q, want %d: %q", got, pid, ready)
	}
	if st := value(ready, "STATUS="); !strings.Contains(st, "2/2 workers ready, generation 1,") || !strings.HasSuffix(st, " req/s") {
		t.Errorf("STATUS=%q at ready, want 2/2 workers of generation 1 and a rate", st)
	}

	// A good reload: a new body, applied in place.
	m.writeConfig(configText(2, "two"))
	before := monotonicUsec(t)
	m.signal(syscall.SIGHUP)
	msgs := sd.waitStates(t, "READY", "RELOADING", "READY")
	after := monotonicUsec(t)
	usec, err := strconv.ParseInt(value(msgs[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec < before || usec > after {
		t.Errorf("RELOADING=1 with MONOTONIC_USEC=%d (%v), want CLOCK_MONOTONIC between %d and %d: %q",
			usec, err, before, after, msgs[1])
	}
	if st := value(msgs[2], "STATUS="); !strings.HasPrefix(st, "2/2 workers ready") {
		t.Errorf("STATUS=%q after the reload", st)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "two" {
		t.Errorf("after the good reload: %d %q %v, want 200 two", code, body, err)
	}

	// A bad reload: RELOADING=1, then READY=1 saying why, and the old
	// config keeps serving.
	m.writeConfig("[supervisor\nworkers = ")
	m.signal(syscall.SIGHUP)
	msgs = sd.waitStates(t, "READY", "RELOADING", "READY", "RELOADING", "READY")
	if value(msgs[3], "MONOTONIC_USEC=") == "" {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", msgs[3])
	}
	if st := value(msgs[4], "STATUS="); !strings.HasPrefix(st, "reload failed, still serving the old config: ") ||
		!strings.Contains(st, "2/2 workers ready") {
		t.Errorf("STATUS=%q after the failed reload", st)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "two" {
		t.Errorf("after the failed reload: %d %q %v, want the old config's 200 two", code, body, err)
	}

	// `rockstar stop`: STOPPING=1, and nothing more once it has exited.
	if code, out := cli(t, "stop", "-s", m.sock); code != 0 {
		t.Fatalf("rockstar stop: exit %d: %s", code, out)
	}
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not exit")
	}
	sd.waitStates(t, "READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING")
	all := sd.messages()
	if last := all[len(all)-1]; last.lines[0] != "STOPPING=1" {
		t.Errorf("the last notification is %q, want STOPPING=1", last.lines)
	}
	for _, msg := range all {
		if msg.pid != pid {
			t.Errorf("pid %d, not the master (%d), sent %q", msg.pid, pid, msg.lines)
		}
	}
}

// With WATCHDOG_USEC set the master feeds the watchdog every half of it
// while it serves, not at all once it stops, and its workers see neither
// the watchdog's variables nor the notify socket.
func TestSystemdWatchdog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	const usec = 200_000 // pings every 100ms
	sd := newFakeSystemd(t)
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "big.bin"), make([]byte, bigFile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := configHead(1, "debug", "") + fmt.Sprintf(filesConfig, site)
	m := startMasterWith(t, cfg, sd.setup("WATCHDOG_USEC="+strconv.Itoa(usec)))
	sd.waitStates(t, "READY")
	waitFor(t, "5 WATCHDOG=1 pings", 10*time.Second, func() bool { return sd.count("WATCHDOG=1") >= 5 })

	for _, w := range m.waitWorkers(1, 5*time.Second) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
			if strings.Contains(string(env), v) {
				t.Errorf("worker %d has %s in its environment", w, v)
			}
		}
	}

	// A graceful stop held open by a download in flight: STOPPING=1, then
	// no ping while the master drains, for 5 periods of the watchdog.
	c, r, left := slowDownload(t, m.addr)
	m.signal(syscall.SIGQUIT)
	sd.waitStates(t, "READY", "STOPPING")
	pings := sd.count("WATCHDOG=1")
	quiet := time.After(5 * usec * time.Microsecond / 2)
	select {
	case <-m.exited:
		t.Fatal("the master exited with a download in flight")
	case <-quiet:
	}
	if n := sd.count("WATCHDOG=1"); n != pings {
		t.Errorf("%d WATCHDOG=1 pings after STOPPING=1", n-pings)
	}
	if _, err := r.Discard(int(left)); err != nil {
		t.Fatalf("the download in flight: %v", err)
	}
	c.Close()
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not exit after the download")
	}
}

// A binary upgrade under systemd's NotifyAccess=main: the old master makes
// the new one the main process (MAINPID=) and then says nothing, not
// STOPPING=1; the new one, to which the old one did not pass its
// WATCHDOG_PID, feeds the watchdog, and says STOPPING=1 when it stops.
func TestSystemdUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	sd := newFakeSystemd(t)
	m := startMasterWith(t, configText(1, "hello"), func(c *exec.Cmd) {
		sd.setup("WATCHDOG_USEC=200000")(c)
		// systemd sets WATCHDOG_PID to the main process: here the
		// master, which the shell becomes.
		c.Args = append([]string{"sh", "-c", `WATCHDOG_PID=$$ exec "$0" "$@"`}, c.Args...)
		c.Path = "/bin/sh"
	})
	old := m.cmd.Process.Pid
	pings := func() int {
		n := 0
		for _, msg := range sd.accepted(old) {
			if msg[0] == "WATCHDOG=1" {
				n++
			}
		}
		return n
	}
	waitFor(t, "the old master's pings", 10*time.Second, func() bool { return pings() >= 2 })

	m.upgrade(t)
	pid := m.pid()
	handedOver := false
	for _, msg := range sd.messages() {
		if msg.pid == old && value(msg.lines, "MAINPID=") == strconv.Itoa(pid) {
			handedOver = true
		}
		if msg.pid == old && value(msg.lines, "STOPPING=") != "" {
			t.Errorf("the old master said %q", msg.lines)
		}
	}
	if !handedOver {
		t.Fatalf("the old master did not say MAINPID=%d: %v", pid, sd.messages())
	}
	after := pings()
	waitFor(t, "the new master's pings", 10*time.Second, func() bool { return pings() >= after+3 })

	m.signal(syscall.SIGTERM)
	waitFor(t, "STOPPING=1 from the new master", 20*time.Second, func() bool {
		acc := sd.accepted(old)
		return len(acc) > 0 && acc[len(acc)-1][0] == "STOPPING=1"
	})
}
