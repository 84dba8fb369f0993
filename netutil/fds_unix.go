//go:build unix

package netutil

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dupFile duplicates the socket behind sc, close-on-exec (os/exec clears that
// in the child only), and wraps it without touching its blocking mode.
func dupFile(sc syscall.Conn, name string) (*os.File, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netutil: dup %s: %w", name, err)
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("netutil: dup %s: %w", name, err)
	}
	if derr != nil {
		return nil, fmt.Errorf("netutil: dup %s: %w", name, derr)
	}
	// os.NewFile keeps a non-blocking descriptor non-blocking, even through
	// Fd, which os.StartProcess calls.
	return os.NewFile(uintptr(nfd), name), nil
}

// checkSocket reports, as an error wrapping ErrBadFD, an f that is not a
// socket of type sotype, or (when listening is set) not listening. It catches
// a misnumbered descriptor before it is mistaken for something else.
func checkSocket(f *os.File, sotype int, listening bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadFD, err)
	}
	var got, acc int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if got, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE); serr != nil || !listening {
			return
		}
		acc, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFD, err)
	}
	switch {
	case serr != nil:
		return fmt.Errorf("%w: not a socket: %w", ErrBadFD, serr)
	case got != sotype:
		return fmt.Errorf("%w: socket type %d, want %d", ErrBadFD, got, sotype)
	case listening && acc == 0:
		return fmt.Errorf("%w: socket is not listening", ErrBadFD)
	}
	return nil
}
