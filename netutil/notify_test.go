//go:build linux

package netutil

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// shortTempDir returns a fresh directory with a short path: a Unix socket's
// path must fit in 108 bytes, which t.TempDir's may not.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading the notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifyPath(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "notify.sock")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("NOTIFY_SOCKET", path)

	for _, state := range []string{"READY=1", "RELOADING=1\nMONOTONIC_USEC=123", "STOPPING=1"} {
		sent, err := Notify(state)
		if err != nil || !sent {
			t.Fatalf("Notify(%q) = %v, %v; want true, nil", state, sent, err)
		}
		if got := readDatagram(t, srv); got != state {
			t.Fatalf("manager got %q, want %q", got, state)
		}
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := fmt.Sprintf("@rockstar-netutil-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	sent, err := Notify("READY=1")
	if err != nil || !sent {
		t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
	}
	if got := readDatagram(t, srv); got != "READY=1" {
		t.Fatalf("manager got %q", got)
	}
}

func TestNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	sent, err := Notify("READY=1")
	if sent || err != nil {
		t.Fatalf("Notify = %v, %v; want false, nil", sent, err)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	if _, err := Notify("READY=1"); !errors.Is(err, ErrNotifySocket) {
		t.Fatalf("vsock address: err = %v, want ErrNotifySocket", err)
	}
	t.Setenv("NOTIFY_SOCKET", "relative.sock")
	if _, err := Notify("READY=1"); !errors.Is(err, ErrNotifySocket) {
		t.Fatalf("relative path: err = %v, want ErrNotifySocket", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(shortTempDir(t), "missing.sock"))
	sent, err := Notify("READY=1")
	if sent || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("missing socket: Notify = %v, %v; want false, ENOENT", sent, err)
	}
}
