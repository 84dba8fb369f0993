package child

import (
	"io/fs"
	"os"
	"syscall"
)

// rootFS is a static root's file system for the workers: the os.Root's
// (no path or symlink leads outside it), with files opened O_NONBLOCK.
// The worker stats a file and serves only regular ones, but a tenant who
// can write its root could put a FIFO in place of a file between that
// stat and the open, and open(2) of a FIFO waits for a writer; with
// O_NONBLOCK it returns at once, and the worker refuses what it opened.
// On a regular file the flag changes nothing.
type rootFS struct{ root *os.Root }

// Open opens name for reading, without blocking.
func (r rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := r.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Stat stats name without opening it (fs.StatFS).
func (r rootFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	return r.root.Stat(name)
}
