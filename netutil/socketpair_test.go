//go:build linux

package netutil

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSocketPair(t *testing.T) {
	parent, child, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{parent, child} {
		fdfl, _ := fdFlags(t, f)
		if fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s is not close-on-exec", f.Name())
		}
		typ, err := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != unix.SOCK_STREAM {
			t.Errorf("%s: socket type %d, %v; want SOCK_STREAM", f.Name(), typ, err)
		}
	}
	// The parent end's credentials are this process's, on both ends.
	pc, err := FileConn(parent)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := FileConn(child)
	if err != nil {
		t.Fatal(err)
	}
	if pid, _, _, err := PeerCred(pc.(*net.UnixConn)); err != nil || pid != os.Getpid() {
		t.Fatalf("PeerCred = %d, %v; want %d", pid, err, os.Getpid())
	}
	// FileConn took ownership of the files.
	if err := parent.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("closing the parent file after FileConn: %v, want os.ErrClosed", err)
	}

	a, b := NewConn(pc), NewConn(cc)
	defer a.Close()
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := a.Send(&Message{ID: 1, Type: "health"}); err != nil {
		t.Fatal(err)
	}
	m, err := b.Recv()
	if err != nil || m.ID != 1 || m.Type != "health" {
		t.Fatalf("Recv = %+v, %v", m, err)
	}
	if err := b.Send(&Message{ID: 1, Type: "health", Body: []byte(`{"state":"ok"}`)}); err != nil {
		t.Fatal(err)
	}
	if m, err = a.Recv(); err != nil || string(m.Body) != `{"state":"ok"}` {
		t.Fatalf("Recv = %+v, %v", m, err)
	}
	// Closing one end is EOF on the other: how the master sees a worker die.
	b.Close()
	if _, err := a.Recv(); err != io.EOF {
		t.Fatalf("Recv after the peer closed: %v, want io.EOF", err)
	}
}

func TestFileConnNil(t *testing.T) {
	if _, err := FileConn(nil); !errors.Is(err, ErrBadFD) {
		t.Fatalf("err = %v, want ErrBadFD", err)
	}
}

func TestFileConnNotASocket(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := FileConn(f); err == nil {
		c.Close()
		t.Fatal("FileConn of a regular file succeeded")
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("FileConn left the file open (Close: %v)", err)
	}
}

func fdFlags(t *testing.T, sc syscall.Conn) (fdflags, flflags int) {
	t.Helper()
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var e1, e2 error
	if err := rc.Control(func(fd uintptr) {
		fdflags, e1 = unix.FcntlInt(fd, unix.F_GETFD, 0)
		flflags, e2 = unix.FcntlInt(fd, unix.F_GETFL, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
	return fdflags, flflags
}
