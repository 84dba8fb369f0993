package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnsafeSocketPath: the control socket's directory could be changed by
// another user, or something other than a socket sits at its path. Load
// reports it wrapped in ErrSystem for supervisor.control_socket, and the
// master refuses to start on it.
var ErrUnsafeSocketPath = errors.New("config: unsafe control socket path")

// CheckSocketPath checks a Unix socket path against the machine the way
// the master needs it before it binds there, without changing anything:
//
//   - its directory, if it exists, is a directory owned by this process's
//     effective user or by root, with neither the group nor the other write
//     bit (so /tmp, 1777, is refused: anyone could plant a file there);
//   - whatever sits at path, by lstat, is a socket (a stale one, which the
//     master replaces) or nothing.
//
// A missing directory passes: the master creates it with mode 0700. The
// error wraps ErrUnsafeSocketPath, or is the operating system's.
func CheckSocketPath(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafeSocketPath, dir)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: its directory %s is writable by other users (mode %v): give the socket a directory of its own",
			ErrUnsafeSocketPath, dir, st.Mode())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: its directory %s belongs to uid %d, neither this user (%d) nor root",
			ErrUnsafeSocketPath, dir, sys.Uid, os.Geteuid())
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s exists and is not a socket (%v): remove it or choose another path",
			ErrUnsafeSocketPath, path, fi.Mode())
	}
	return nil
}
