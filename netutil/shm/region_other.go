//go:build !linux

package shm

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// errNoRegion is what Create, Open and Adopt wrap here: it names the
// system and wraps errors.ErrUnsupported.
var errNoRegion = fmt.Errorf("memfd_create (Linux only) is not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Create needs Linux's memfd_create; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func Create(name string, size int) (*Region, error) {
	return nil, fmt.Errorf("shm: create %s: %w", name, errNoRegion)
}

// Open needs Linux; elsewhere it closes fd and returns an error wrapping
// errors.ErrUnsupported.
func Open(fd uintptr) (*Region, error) {
	if f := os.NewFile(fd, "shm"); f != nil {
		f.Close()
	}
	return nil, fmt.Errorf("shm: open fd %d: %w", fd, errNoRegion)
}

// Adopt needs Linux; elsewhere it closes fd and returns an error wrapping
// errors.ErrUnsupported.
func Adopt(fd uintptr) (*Region, error) { return Open(fd) }

func unmap([]byte) error { return nil }

func punchHole(*os.File, int, int) error { return errors.ErrUnsupported }

// OwnerID returns the pid: without a region there is no other process.
func OwnerID() uint64 { return uint64(os.Getpid()) }

// Alive reports true: without a region there is no other process to ask about.
func Alive(pid uint64) bool { return pid != 0 }
