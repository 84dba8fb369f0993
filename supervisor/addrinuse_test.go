package supervisor_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/netutil"
)

// withServers replaces the one server of a test config by one per address.
func withServers(cfg string, addrs ...string) string {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "[[server]]\nlisten = %q", a)
	}
	return strings.Replace(cfg, "[[server]]\nlisten = \"127.0.0.1:0\"", b.String(), 1)
}

// freeAddr is a 127.0.0.1 address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// refused reports whether a connection to addr is refused at once: no
// socket listens there.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
	}
	return err != nil
}

// Every socket the master holds has SO_REUSEPORT, so the kernel would let
// a second master bind the same port and split the traffic between two
// configs. `rockstar run` refuses instead, names the address and the
// process that holds it, and exits non-zero; the first one keeps all the
// traffic.
func TestSecondMasterRefusesTakenAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	addr := freeAddr(t)
	first := startMaster(t, withServers(configText(2, "first"), addr))
	pid := first.pid()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "rockstar.toml")
	if err := os.WriteFile(cfg, []byte(withServers(configText(1, "second"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := cli(t, "run", "-c", cfg, "--log-format", "json")
	if code == 0 {
		t.Fatalf("a second master on %s exited 0:\n%s", addr, out)
	}
	if !strings.Contains(out, addr+": address already in use by pid") || !strings.Contains(out, strconv.Itoa(pid)) {
		t.Fatalf("the refusal does not name %s and the first master's pid %d:\n%s", addr, pid, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "ctl.sock")); err == nil {
		t.Errorf("the refused master left its control socket")
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "rockstar.pid")); err == nil {
		t.Errorf("the refused master wrote its pid file")
	}
	for i := range 20 { // new connections, all to the first master
		if code, body, err := first.get("hello.test", "/"); err != nil || code != 200 || body != "first" {
			t.Fatalf("request %d after the refused start: %d %q %v", i, code, body, err)
		}
	}
}

// A reload that adds an address another process listens on fails, leaves
// the old config serving and nothing listening on the addresses it added;
// once the address is free, the same reload succeeds.
func TestReloadRefusesTakenAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	added := freeAddr(t) // comes first: opened before the taken one fails
	m.writeConfig(withServers(configText(2, "changed"), m.addr, added, taken.Addr().String()))
	code, out := cli(t, "reload", "-s", m.sock)
	if code == 0 {
		t.Fatalf("the reload onto a taken address succeeded:\n%s", out)
	}
	line := m.logs.wait(t, "reload failed; still serving the old config", 10*time.Second)
	msg, _ := line["error"].(string)
	if !strings.Contains(msg, taken.Addr().String()) || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("the reload error %q does not name %s and pid %d", msg, taken.Addr(), os.Getpid())
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("after the failed reload: %d %q %v; want the old config", code, body, err)
	}
	if !refused(added) {
		t.Fatalf("the failed reload left %s listening, with nobody to answer", added)
	}

	taken.Close()
	mustReload(t, m)
	m.logs.wait(t, "old generation drained", 20*time.Second)
	for _, a := range []string{m.addr, added, taken.Addr().String()} {
		waitFor(t, "the new config on "+a, 10*time.Second, func() bool {
			_, body, err := (&master{addr: a}).get("hello.test", "/")
			return err == nil && body == "changed"
		})
	}
}

// HTTP/3's UDP sockets are checked too: another process's SO_REUSEPORT
// socket on the port would get part of the QUIC datagrams.
func TestMasterRefusesTakenUDPPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	pc, err := netutil.ListenPacketReusePort("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	if !refused(addr) {
		t.Skipf("TCP %s is taken too", addr)
	}
	s := newProtoSetup(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rockstar.toml")
	if err := os.WriteFile(cfg, []byte(withServers(s.config(1, "30s"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := cli(t, "run", "-c", cfg, "--log-format", "json")
	if code == 0 {
		t.Fatalf("a master on %s, whose UDP port is taken, exited 0:\n%s", addr, out)
	}
	if want := "udp " + addr + ": address already in use by pid " + strconv.Itoa(os.Getpid()); !strings.Contains(out, want) {
		t.Fatalf("the refusal does not say %q:\n%s", want, out)
	}
}
