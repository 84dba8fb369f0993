package netutil

import (
	"fmt"
	"os"
	"syscall"
)

// Passing sockets to a child needs Unix descriptors: here ListenerFile,
// PacketConnFile, FileListener and FilePacketConn fail with ErrUnsupported.

func dupFile(_ syscall.Conn, name string) (*os.File, error) {
	return nil, fmt.Errorf("netutil: dup %s: %w", name, ErrUnsupported)
}

func checkSocket(*os.File, int, bool) error {
	return ErrUnsupported
}
