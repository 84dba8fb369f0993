//go:build linux

package netutil

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func init() { childModes["hold"] = func() error { waitForStdinEOF(); return nil } }

// inUse asserts that CheckAddrFree finds addr taken, held by pid (0: any).
func inUse(t *testing.T, network, addr string, own func(uint64) bool, pid int) *AddrInUseError {
	t.Helper()
	err := CheckAddrFree(network, addr, own)
	var e *AddrInUseError
	if !errors.As(err, &e) || !errors.Is(err, ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("CheckAddrFree(%s %s) = %v, want an AddrInUseError", network, addr, err)
	}
	if pid != 0 && !slices.Contains(e.PIDs, pid) {
		t.Fatalf("CheckAddrFree(%s %s) = %v: does not name pid %d", network, addr, err, pid)
	}
	return e
}

func free(t *testing.T, network, addr string, own func(uint64) bool) {
	t.Helper()
	if err := CheckAddrFree(network, addr, own); err != nil {
		t.Fatalf("CheckAddrFree(%s %s) = %v, want nil", network, addr, err)
	}
}

// Another process's SO_REUSEPORT listener would let a second one bind
// beside it and split the traffic; CheckAddrFree finds it and names it.
func TestCheckAddrFreeFindsAnotherProcess(t *testing.T) {
	ln, err := ListenReusePort("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	f, err := ListenerFile(ln)
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "hold", nil, f)
	f.Close() // the child alone holds the socket now
	e := inUse(t, "tcp", addr, nil, c.pid())
	if len(e.PIDs) != 1 {
		t.Errorf("pids %v, want only the child %d", e.PIDs, c.pid())
	}
	want := "netutil: listen tcp " + addr + ": address already in use by pid " + strconv.Itoa(c.pid())
	if e.Error() != want {
		t.Errorf("error %q, want %q", e.Error(), want)
	}
	// The hole it closes: the kernel lets a reuseport socket bind beside it.
	if second, err := ListenReusePort("tcp", addr); err != nil {
		t.Logf("the kernel refused the second reuseport bind itself: %v", err)
	} else {
		second.Close()
	}
	c.cmd.Process.Kill()
	_ = c.wait(10 * time.Second)
	free(t, "tcp", addr, nil)
}

// The caller's own sockets on the address do not count.
func TestCheckAddrFreeOwnSockets(t *testing.T) {
	ln, err := ListenReusePort("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ListenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ino, err := SocketInode(f)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	free(t, "tcp", addr, func(i uint64) bool { return i == ino })
	inUse(t, "tcp", addr, func(uint64) bool { return false }, os.Getpid())
	inUse(t, "tcp", addr, nil, os.Getpid())
	free(t, "tcp", "127.0.0.1:0", nil)
}

// A wildcard address overlaps every specific one of its port, both ways.
func TestCheckAddrFreeWildcardOverlap(t *testing.T) {
	specific, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(specific.Addr().(*net.TCPAddr).Port)
	inUse(t, "tcp", ":"+port, nil, os.Getpid())
	inUse(t, "tcp", "0.0.0.0:"+port, nil, os.Getpid())
	specific.Close()

	wild, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer wild.Close()
	port = strconv.Itoa(wild.Addr().(*net.TCPAddr).Port)
	inUse(t, "tcp", "127.0.0.1:"+port, nil, os.Getpid())
	inUse(t, "tcp", "0.0.0.0:"+port, nil, os.Getpid())
}

// IPv6 addresses are read back from /proc/net/tcp6.
func TestCheckAddrFreeIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	inUse(t, "tcp", addr, nil, os.Getpid())
	// 127.0.0.1 on the same port is another address.
	free(t, "tcp", "127.0.0.1:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil)
}

// Connections left in TIME_WAIT by a server that stopped do not hold its
// address.
func TestCheckAddrFreeIgnoresTimeWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // the server closes first: its side goes to TIME_WAIT
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	ln.Close()
	free(t, "tcp", addr, nil)
}

func TestCheckAddrFreeUDP(t *testing.T) {
	pc, err := ListenPacketReusePort("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	inUse(t, "udp", addr, nil, os.Getpid())
	f, err := PacketConnFile(pc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ino, err := SocketInode(f)
	if err != nil {
		t.Fatal(err)
	}
	free(t, "udp", addr, func(i uint64) bool { return i == ino })
	// TCP on the same port is another socket.
	free(t, "tcp", addr, nil)
}

// ListenExclusive is the plain bind: no second socket, reuseport or not.
func TestListenExclusive(t *testing.T) {
	// refused fails t unless listen, on an address taken as what says,
	// fails with EADDRINUSE.
	refused := func(what string, c io.Closer, err error) {
		t.Helper()
		if !errors.Is(err, syscall.EADDRINUSE) {
			if err == nil {
				c.Close()
			}
			t.Fatalf("%s: %v, want EADDRINUSE", what, err)
		}
	}
	a, err := ListenExclusive("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenExclusive("tcp", a.Addr().String())
	refused("exclusive listener beside an exclusive one", b, err)
	b, err = ListenReusePort("tcp", a.Addr().String())
	refused("reuseport listener beside an exclusive one", b, err)
	r, err := ListenReusePort("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err = ListenExclusive("tcp", r.Addr().String())
	refused("exclusive listener beside a reuseport one", b, err)
	p, err := ListenPacketExclusive("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	q, err := ListenPacketReusePort("udp", p.LocalAddr().String())
	refused("reuseport UDP beside an exclusive one", q, err)
}
