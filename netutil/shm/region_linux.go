package shm

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// Create makes a region of size bytes, zeroed: a memfd named name (seen in
// /proc/PID/fd), sealed against shrinking and growing so that no process can
// pull memory from under another, and mapped shared. Pages take memory only
// once written, so a generous size costs address space, not RAM.
func Create(name string, size int) (*Region, error) {
	if size <= 0 {
		return nil, fmt.Errorf("shm: create %s: size %d: %w", name, size, ErrBadRegion)
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("shm: memfd_create %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: size %s to %d bytes: %w", name, size, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: seal %s: %w", name, err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: map %s: %w", name, err)
	}
	return &Region{f: f, mem: mem}, nil
}

// Open maps the region behind an inherited descriptor, such as one a worker
// got through exec.Cmd.ExtraFiles. It takes ownership of fd and closes it,
// whether or not it succeeds: the mapping outlives it.
func Open(fd uintptr) (*Region, error) {
	defer unix.Close(int(fd))
	mem, err := mapInherited(fd)
	if err != nil {
		return nil, err
	}
	return &Region{mem: mem}, nil
}

// Adopt maps the region behind an inherited memfd that this process hands
// on in turn, as a master started by a binary upgrade does with the old
// master's region: unlike Open it keeps fd, as the region's File, and Zero
// gives whole pages back. It takes ownership of fd and closes it if it
// fails.
func Adopt(fd uintptr) (*Region, error) {
	mem, err := mapInherited(fd)
	if err != nil {
		unix.Close(int(fd))
		return nil, err
	}
	return &Region{f: os.NewFile(fd, "memfd:inherited"), mem: mem}, nil
}

// mapInherited maps all of fd, which must be a regular file (a memfd)
// sealed against shrinking, as Create leaves it: a file that some process
// could shrink would turn every access past its new end into SIGBUS.
func mapInherited(fd uintptr) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return nil, fmt.Errorf("shm: open fd %d: %w: %w", fd, ErrBadRegion, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size <= 0 || st.Size > math.MaxInt {
		return nil, fmt.Errorf("shm: open fd %d: mode %#o, %d bytes: %w", fd, st.Mode, st.Size, ErrBadRegion)
	}
	seals, err := unix.FcntlInt(fd, unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_SHRINK == 0 {
		return nil, fmt.Errorf("shm: open fd %d: not sealed against shrinking (seals %#x, %v): %w", fd, seals, err, ErrBadRegion)
	}
	mem, err := unix.Mmap(int(fd), 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: map fd %d: %w", fd, err)
	}
	return mem, nil
}

func unmap(mem []byte) error { return unix.Munmap(mem) }

func punchHole(f *os.File, off, n int) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(n))
}

// Alive reports whether process pid still exists, for Lock: a pid that
// signal 0 cannot reach (ESRCH) is gone. Zombies count as alive until
// reaped, which the master does at once.
func Alive(pid uint64) bool {
	if pid == 0 || pid > math.MaxInt32 {
		return false
	}
	return unix.Kill(int(pid), 0) != unix.ESRCH
}
