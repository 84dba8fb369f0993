package netutil

import (
	"fmt"
	"os"
)

// SocketInode needs Unix inode numbers; here it returns an error wrapping
// ErrUnsupported.
func SocketInode(f *os.File) (uint64, error) {
	return 0, fmt.Errorf("netutil: socket inode of %s: %w", f.Name(), ErrUnsupported)
}
