//go:build linux

package netutil

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func init() { childModes["dial"] = childDial }

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

// childDial connects to the Unix socket in childSockEnv, says hello and
// waits for the answer, so the parent can check the credentials it sees.
func childDial() error {
	c, err := net.Dial("unix", os.Getenv(childSockEnv))
	if err != nil {
		return err
	}
	ctl := NewConn(c)
	defer ctl.Close()
	ctl.SetReadDeadline(time.Now().Add(childLimit))
	body, _ := json.Marshal(map[string]int{"pid": os.Getpid()})
	if err := ctl.Send(&Message{ID: 1, Type: "hello", Body: body}); err != nil {
		return err
	}
	m, err := ctl.Recv()
	if err != nil {
		return err
	}
	if m.ID != 1 || m.Err != "" {
		return fmt.Errorf("reply %+v", m)
	}
	return nil
}

func TestPeerCredInProcess(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "ctl.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	accepted, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	for name, c := range map[string]*net.UnixConn{"accepted": accepted, "dialed": dialed} {
		pid, uid, gid, err := PeerCred(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if pid != os.Getpid() || uid != os.Geteuid() || gid != os.Getegid() {
			t.Fatalf("%s: PeerCred = %d %d %d, want %d %d %d", name, pid, uid, gid, os.Getpid(), os.Geteuid(), os.Getegid())
		}
	}
}

func TestPeerCredClosed(t *testing.T) {
	a, b, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	c, err := FileConn(a)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, _, _, err := PeerCred(c.(*net.UnixConn)); err == nil {
		t.Fatal("PeerCred on a closed conn succeeded")
	}
}

// TestPeerCredOfAChild checks the credentials the control socket would see
// from a CLI: another process that connects.
func TestPeerCredOfAChild(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "ctl.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := startChild(t, "dial", []string{childSockEnv + "=" + path})

	ln.SetDeadline(time.Now().Add(20 * time.Second))
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("waiting for the child to connect: %v", err)
	}
	pid, uid, gid, err := PeerCred(c)
	if err != nil {
		t.Fatal(err)
	}
	if pid != ch.pid() || uid != os.Geteuid() || gid != os.Getegid() {
		t.Fatalf("PeerCred = %d %d %d, want the child's %d %d %d", pid, uid, gid, ch.pid(), os.Geteuid(), os.Getegid())
	}
	ctl := NewConn(c)
	defer ctl.Close()
	ctl.SetReadDeadline(time.Now().Add(20 * time.Second))
	m, err := ctl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var hello struct{ Pid int }
	if err := json.Unmarshal(m.Body, &hello); err != nil || hello.Pid != pid {
		t.Fatalf("hello %s, want pid %d", m.Body, pid)
	}
	if err := ctl.Send(&Message{ID: m.ID, Type: m.Type}); err != nil {
		t.Fatal(err)
	}
	if err := ch.wait(20 * time.Second); err != nil {
		t.Fatalf("child: %v", err)
	}
}
