//go:build !linux

package netutil

import "syscall"

// The master and its workers run on Linux; these stubs let the package build
// elsewhere (for editors and for tests of the portable pieces).

func peerCred(fd int) (pid, uid, gid int, err error) {
	return 0, 0, 0, ErrUnsupported
}

func setPdeathsig(sig syscall.Signal) error {
	return ErrUnsupported
}

func socketpair() ([2]int, error) {
	return [2]int{-1, -1}, ErrUnsupported
}
