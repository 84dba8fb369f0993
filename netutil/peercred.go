package netutil

import (
	"fmt"
	"net"
)

// PeerCred returns the process id and the effective user and group ids of
// the peer of the Unix socket c, as the kernel recorded them (SO_PEERCRED),
// so that the control socket can refuse a client that is neither root nor
// the master's own user. The credentials are those of the process that called connect(2),
// or, for a socketpair, of the process that created the pair (not of a child
// that inherited one end); they do not change later. On systems other than
// Linux it returns an error wrapping ErrUnsupported.
func PeerCred(c *net.UnixConn) (pid, uid, gid int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("netutil: peer credentials: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		pid, uid, gid, serr = peerCred(int(fd))
	}); err != nil {
		return 0, 0, 0, fmt.Errorf("netutil: peer credentials: %w", err)
	}
	if serr != nil {
		return 0, 0, 0, fmt.Errorf("netutil: peer credentials: %w", serr)
	}
	return pid, uid, gid, nil
}
