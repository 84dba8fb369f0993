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
//     bit (so /tmp, 1777, is refused: anyone could plant a file there), and
//     if it is a symlink, the link too belongs to this user or root;
//   - every existing directory above it (symlinks resolved) belongs to this
//     user or root, and one that others can write has the sticky bit, as
//     /tmp does, so that nobody else can rename what it holds;
//   - whatever sits at path, by lstat, is a socket (a stale one, which the
//     master replaces) or nothing.
//
// A missing directory passes when what would hold it does: the master
// creates it with mode 0700. The error wraps ErrUnsafeSocketPath, or is
// the operating system's.
func CheckSocketPath(path string) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		above := filepath.Dir(dir)
		for !exists(above) && filepath.Dir(above) != above {
			above = filepath.Dir(above)
		}
		return checkAbove(above)
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
	if uid, ok := foreignOwner(st); ok {
		return fmt.Errorf("%w: its directory %s belongs to uid %d, neither this user (%d) nor root",
			ErrUnsafeSocketPath, dir, uid, os.Geteuid())
	}
	if li, err := os.Lstat(dir); err == nil && li.Mode().Type() == fs.ModeSymlink {
		if uid, ok := foreignOwner(li); ok {
			return fmt.Errorf("%w: its directory %s is a symlink of uid %d, neither this user (%d) nor root",
				ErrUnsafeSocketPath, dir, uid, os.Geteuid())
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if err := checkAbove(filepath.Dir(real)); err != nil {
		return err
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

// checkAbove checks the directory p, which holds the socket's directory,
// and every one above it, symlinks resolved: see CheckSocketPath.
func checkAbove(p string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	for {
		st, err := os.Stat(real)
		if err != nil {
			return err
		}
		if uid, ok := foreignOwner(st); ok {
			return fmt.Errorf("%w: %s, above the socket, belongs to uid %d, neither this user (%d) nor root",
				ErrUnsafeSocketPath, real, uid, os.Geteuid())
		}
		if st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0 {
			return fmt.Errorf("%w: %s, above the socket, is writable by other users and not sticky (mode %v)",
				ErrUnsafeSocketPath, real, st.Mode())
		}
		parent := filepath.Dir(real)
		if parent == real {
			return nil
		}
		real = parent
	}
}

// foreignOwner returns the owner of fi when it is neither root nor this
// process's effective user.
func foreignOwner(fi fs.FileInfo) (uint32, bool) {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 || int(sys.Uid) == os.Geteuid() {
		return 0, false
	}
	return sys.Uid, true
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
