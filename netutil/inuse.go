package netutil

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
)

// ErrAddrInUse means another process already listens on an address that a
// listener was asked to take. Every listener here sets SO_REUSEPORT, with
// which the kernel would not refuse a second process of the same user but
// split the address's traffic between the two; CheckAddrFree finds that
// case first. It is returned as an *AddrInUseError; check it with
// errors.Is (syscall.EADDRINUSE matches too).
var ErrAddrInUse = errors.New("netutil: address already in use")

// AddrInUseError is the error of CheckAddrFree: the address asked for and,
// where /proc shows them (a process of another user may be hidden), the
// processes that hold a socket listening on it.
type AddrInUseError struct {
	Network string // "tcp" or "udp"
	Addr    string // as asked
	PIDs    []int  // sorted; empty when /proc does not tell
}

// maxPIDsShown bounds the pids an AddrInUseError names: a server's master
// and its workers all hold the socket.
const maxPIDsShown = 8

func (e *AddrInUseError) Error() string {
	var b strings.Builder
	b.WriteString("netutil: listen ")
	b.WriteString(e.Network)
	b.WriteString(" ")
	b.WriteString(e.Addr)
	b.WriteString(": address already in use")
	switch {
	case len(e.PIDs) == 0:
		b.WriteString(" by another process")
	case len(e.PIDs) == 1:
		b.WriteString(" by pid ")
	default:
		b.WriteString(" by pids ")
	}
	for i, pid := range e.PIDs {
		if i == maxPIDsShown {
			b.WriteString(", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(pid))
	}
	return b.String()
}

// Is makes errors.Is match ErrAddrInUse and syscall.EADDRINUSE.
func (e *AddrInUseError) Is(target error) bool {
	return target == ErrAddrInUse || target == syscall.EADDRINUSE
}
