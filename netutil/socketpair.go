package netutil

import (
	"fmt"
	"net"
	"os"
)

// SocketPair returns the two ends of a connected SOCK_STREAM Unix socket
// pair, the control channel between the master and one worker: the master
// keeps parent (see FileConn) and passes child in exec.Cmd.ExtraFiles.
//
// Both ends are created close-on-exec, atomically. That is what the parent
// end needs, and the child end needs it too: os/exec clears the flag on the
// copy it places in the child, while without it a worker started at the same
// moment by another goroutine would inherit this end as well and keep the
// channel open after its own worker died. After starting the child, the
// master closes its copy of child, so that the child's death reads as EOF on
// parent. On systems other than Linux it returns an error wrapping
// ErrUnsupported.
func SocketPair() (parent, child *os.File, err error) {
	fds, err := socketpair()
	if err != nil {
		return nil, nil, fmt.Errorf("netutil: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "socketpair parent"), os.NewFile(uintptr(fds[1]), "socketpair child"), nil
}

// FileConn returns a net.Conn (a *net.UnixConn for a Unix socket) for the
// socket f, such as the parent end from SocketPair, or in a worker the
// inherited end: FileConn(os.NewFile(3, "ctl")). It takes ownership of f: the
// connection works on a duplicate and f is closed, whether or not FileConn
// succeeds.
func FileConn(f *os.File) (net.Conn, error) {
	if f == nil {
		return nil, fmt.Errorf("netutil: file conn: nil file: %w", ErrBadFD)
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("netutil: file conn %s: %w", f.Name(), err)
	}
	return c, nil
}
