//go:build unix

package netutil

import (
	"errors"
	"os"
	"syscall"
)

// SocketInode returns the inode number of the socket behind f, as
// /proc/PID/fd and /proc/net show it: the same for every descriptor of
// the socket, in every process that holds one.
func SocketInode(f *os.File) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	return st.Ino, nil
}
