package supervisor_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeOr returns addr if it can be bound now, or else a free loopback
// port's address.
func freeOr(t *testing.T, addr string) string {
	t.Helper()
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// procUIDs reads the real, effective, saved and fs uids of pid.
func procUIDs(t *testing.T, pid int) []string {
	t.Helper()
	v, ok := procStatus(pid, "Uid")
	if !ok {
		t.Fatalf("no Uid line for %d", pid)
	}
	return strings.Fields(v)
}

// nobodyBinary skips the test unless it runs as root on a machine with
// user nobody, and returns nobody and a copy of the binary that nobody may
// exec: in a directory it may enter (the test binary's own is 0700).
func nobodyBinary(t *testing.T) (*user.User, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir, err := os.MkdirTemp("", "rockstar-priv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rockstar")
	data, err := os.ReadFile(rockstarBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return nobody, bin
}

// Started as root with user = "nobody", the master binds the privileged
// ports (:80 and :443 when free, else two free ports) and stays root; its
// workers run as nobody, all four uids, and serve on both.
func TestPrivilegesDropToNobody(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	nobody, bin := nobodyBinary(t)
	http, https := freeOr(t, "127.0.0.1:80"), freeOr(t, "127.0.0.1:443")
	t.Logf("listening on %s and %s", http, https)
	cfg := strings.Replace(configText(2, "hello"), "[supervisor]\n", "[supervisor]\nuser = \"nobody\"\n", 1)
	cfg = strings.Replace(cfg, "[[server]]\nlisten = \"127.0.0.1:0\"",
		fmt.Sprintf("[[server]]\nlisten = %q\n\n[[server]]\nlisten = %q", http, https), 1)
	m := startMasterWith(t, cfg, func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin })
	pids := m.waitWorkers(2, 10*time.Second)

	if got := procUIDs(t, m.pid()); got[1] != "0" {
		t.Errorf("master uids %v, want it to stay root", got)
	}
	for _, p := range pids {
		for i, u := range procUIDs(t, p) {
			if u != nobody.Uid {
				t.Errorf("worker %d: uid[%d] = %s, want nobody's %s", p, i, u, nobody.Uid)
			}
		}
	}
	for _, addr := range []string{http, https} {
		m.addr = addr
		if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
			t.Errorf("%s: %d %q %v", addr, code, body, err)
		}
	}
}
