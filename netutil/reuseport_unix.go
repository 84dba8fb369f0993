//go:build unix

package netutil

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

func reusePortControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netutil: set SO_REUSEPORT on %s %s: %w", network, address, serr)
	}
	return nil
}
