package shm

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

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

// OwnerID returns this process's id for Lock: its pid, and in the upper
// 32 bits the low 32 bits of its start time (in clock ticks since boot,
// from /proc/self/stat), so that Alive tells it from a later process that
// got the same pid. It is the bare pid when the start time cannot be read.
func OwnerID() uint64 {
	pid := os.Getpid()
	st, ok := startTime(pid)
	if !ok {
		return uint64(pid)
	}
	return uint64(pid) | uint64(uint32(st))<<32
}

// Alive reports whether the process of id, an OwnerID or a bare pid,
// still exists, for Lock: a pid that signal 0 cannot reach (ESRCH) is
// gone, and so is one whose start time is not id's (the owner died and
// its pid went to another process). Zombies count as alive until reaped,
// which the master does at once.
func Alive(id uint64) bool {
	pid := id & math.MaxUint32
	if pid == 0 || pid > math.MaxInt32 {
		return false
	}
	if unix.Kill(int(pid), 0) == unix.ESRCH {
		return false
	}
	want := uint32(id >> 32)
	if want == 0 {
		return true
	}
	st, ok := startTime(int(pid))
	return !ok || uint32(st) == want // unreadable: it may be the owner
}

// startTime reads field 22 of /proc/PID/stat, the process's start time in
// clock ticks since boot.
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold anything
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // from field 3, the state
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}
