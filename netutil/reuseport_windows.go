package netutil

import (
	"fmt"
	"syscall"
)

// reusePortControl fails: this system has no SO_REUSEPORT, so
// ListenReusePort and ListenPacketReusePort return an error wrapping
// ErrUnsupported; ListenExclusive and ListenPacketExclusive work.
func reusePortControl(network, address string, _ syscall.RawConn) error {
	return fmt.Errorf("netutil: set SO_REUSEPORT on %s %s: %w", network, address, ErrUnsupported)
}
