package netutil

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func peerCred(fd int) (pid, uid, gid int, err error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, 0, 0, err
	}
	return int(u.Pid), int(u.Uid), int(u.Gid), nil
}

func setPdeathsig(sig syscall.Signal) error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0)
}

func socketpair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
}
