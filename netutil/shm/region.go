package shm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"
)

// Errors of the region, returned wrapped; check them with errors.Is.
var (
	// ErrBadRegion means a descriptor is not a usable region: not a memfd,
	// empty, or too large to map.
	ErrBadRegion = errors.New("shm: bad shared memory region")
	// ErrOutOfRange means an offset and length fall outside the region or
	// are not aligned as asked.
	ErrOutOfRange = errors.New("shm: offset out of range")
)

// Align is the alignment of everything in a region that two cores write:
// one cache line, so that neighbours do not share one.
const Align = 64

// AlignUp rounds n up to a multiple of Align.
func AlignUp(n int) int { return (n + Align - 1) &^ (Align - 1) }

// Region is a shared memory region mapped into this process.
type Region struct {
	f   *os.File // the master keeps the memfd to hand it to workers; nil in a worker
	mem []byte
}

// Size returns the region's length in bytes.
func (r *Region) Size() int { return len(r.mem) }

// File returns the memfd behind a region made by Create or Adopt, to pass
// to a child in exec.Cmd.ExtraFiles; nil for a region made by Open. The
// region keeps ownership of it.
func (r *Region) File() *os.File { return r.f }

// check panics unless [off, off+n) lies in the region and off is a
// multiple of align: offsets come from the region's own layout, so a bad one
// is a bug, not an input error.
func (r *Region) check(off, n, align int) {
	if off < 0 || n < 0 || off > len(r.mem)-n || off%align != 0 {
		panic(fmt.Sprintf("%v: [%d, %d+%d) of %d bytes, align %d", ErrOutOfRange, off, off, n, len(r.mem), align))
	}
}

// Int64 returns the int64 at off (a multiple of 8) as an atomic.
func (r *Region) Int64(off int) *atomic.Int64 {
	r.check(off, 8, 8)
	return (*atomic.Int64)(unsafe.Pointer(&r.mem[off]))
}

// Uint64 returns the uint64 at off (a multiple of 8) as an atomic.
func (r *Region) Uint64(off int) *atomic.Uint64 {
	r.check(off, 8, 8)
	return (*atomic.Uint64)(unsafe.Pointer(&r.mem[off]))
}

// Words returns the n uint64 words from off (a multiple of 8).
func (r *Region) Words(off, n int) []uint64 {
	if n > len(r.mem)/8 {
		n = -1 // 8*n could wrap around to a length that fits: make check fail
	}
	r.check(off, 8*n, 8)
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&r.mem[off])), n)
}

// Bytes returns the n bytes from off. Other processes may write them at any
// time: read them only where a protocol (a count published with an atomic
// store after the bytes were written) says they are stable.
func (r *Region) Bytes(off, n int) []byte {
	r.check(off, n, 1)
	return r.mem[off : off+n : off+n]
}

// Pointer returns the address of the n bytes at off, which must be a
// multiple of Align, to lay a pointer-free struct over them.
func (r *Region) Pointer(off, n int) unsafe.Pointer {
	r.check(off, n, Align)
	return unsafe.Pointer(&r.mem[off])
}

// Zero sets [off, off+n) to zero. Whole pages in the range are handed back
// to the system (punched out of the memfd), so a large freed table costs no
// memory until it is used again; only a region made by Create or Adopt can do that,
// and the caller must know that no process uses the range.
func (r *Region) Zero(off, n int) error {
	r.check(off, n, 1)
	if r.f != nil {
		page := os.Getpagesize()
		lo := (off + page - 1) &^ (page - 1)
		hi := (off + n) &^ (page - 1)
		if hi > lo {
			if err := punchHole(r.f, lo, hi-lo); err == nil {
				clear(r.mem[off:lo])
				clear(r.mem[hi : off+n])
				return nil
			}
		}
	}
	clear(r.mem[off : off+n])
	return nil
}

// Close unmaps the region and closes its memfd. Nothing of the region may be
// used afterwards.
func (r *Region) Close() error {
	var err error
	if r.mem != nil {
		err = unmap(r.mem)
		r.mem = nil
	}
	if r.f != nil {
		if cerr := r.f.Close(); err == nil {
			err = cerr
		}
		r.f = nil
	}
	return err
}
