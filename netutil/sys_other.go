//go:build !linux

package netutil

import (
	"errors"
	"syscall"
)

// The master and its workers run on Linux; these stubs let the package build
// elsewhere (for editors and for tests of the portable pieces).

func peerCred(fd int) (pid, uid, gid int, err error) {
	return 0, 0, 0, errors.ErrUnsupported
}

func setPdeathsig(sig syscall.Signal) error {
	return errors.ErrUnsupported
}

func socketpair() ([2]int, error) {
	return [2]int{-1, -1}, errors.ErrUnsupported
}
