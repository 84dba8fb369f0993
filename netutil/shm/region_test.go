//go:build linux

package shm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The cross-process tests run this test binary again as a child: TestMain
// sees childEnv and does the child's part on the region at fd 3.
const childEnv = "SHM_TEST_CHILD"

const (
	childAdds   = 200_000
	counterOff  = 0
	lockOff     = 64
	tableOff    = 4096
	tableSize   = 64
	regionBytes = 1 << 20
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(mode string) error {
	r, err := Open(3)
	if err != nil {
		return err
	}
	defer r.Close()
	switch mode {
	case "add":
		c := r.Uint64(counterOff)
		for range childAdds {
			c.Add(1)
		}
		return nil
	case "lock":
		Lock(r.Uint64(lockOff), uint64(os.Getpid()), Alive)
		fmt.Println("locked")
		time.Sleep(time.Minute) // killed by the test
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func startChild(t *testing.T, r *Region, mode string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{r.File()}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

func TestRegionSharedAcrossProcesses(t *testing.T) {
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, _ := startChild(t, r, "add")
	b, _ := startChild(t, r, "add")
	c := r.Uint64(counterOff)
	for range childAdds {
		c.Add(1)
	}
	for _, cmd := range []*exec.Cmd{a, b} {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Load(); got != 3*childAdds {
		t.Fatalf("counter %d, want %d: increments were lost between processes", got, 3*childAdds)
	}
}

func TestLockTakenOverFromKilledProcess(t *testing.T) {
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd, out := startChild(t, r, "lock")
	if line, err := out.ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	w := r.Uint64(lockOff)
	if got := w.Load(); got != uint64(cmd.Process.Pid) {
		t.Fatalf("lock word %d, want the child's pid %d", got, cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait() // reaped: its pid is gone
	done := make(chan struct{})
	go func() {
		defer close(done)
		Lock(w, uint64(os.Getpid()), Alive)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a lock held by a killed process was never taken over")
	}
	Unlock(w)
}

func TestRegionZero(t *testing.T) {
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := r.Bytes(0, regionBytes)
	for i := range b {
		b[i] = 0xff
	}
	page := os.Getpagesize()
	off, n := 100, 3*page+50 // unaligned ends around whole pages
	if err := r.Zero(off, n); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		want := byte(0xff)
		if i >= off && i < off+n {
			want = 0
		}
		if b[i] != want {
			t.Fatalf("byte %d = %#x, want %#x", i, b[i], want)
		}
	}
}

func TestOpenRejectsNonRegion(t *testing.T) {
	f, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := dupFD(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(fd); !errors.Is(err, ErrBadRegion) {
		t.Fatalf("Open(a directory) = %v, want ErrBadRegion", err)
	}
}

func TestSealed(t *testing.T) {
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.File().Truncate(0); err == nil {
		t.Fatal("the region could be shrunk under its users")
	}
}

func dupFD(f *os.File) (uintptr, error) {
	fd, err := dup(int(f.Fd()))
	return uintptr(fd), err
}

// A descriptor that some process could shrink is refused: every access
// past its new end would be SIGBUS.
func TestOpenRejectsUnsealed(t *testing.T) {
	for _, open := range []func(uintptr) (*Region, error){Open, Adopt} {
		fd, err := unix.MemfdCreate("rockstar-test", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Ftruncate(fd, regionBytes); err != nil {
			t.Fatal(err)
		}
		if r, err := open(uintptr(fd)); !errors.Is(err, ErrBadRegion) {
			if r != nil {
				r.Close()
			}
			t.Fatalf("an unsealed memfd: %v, want ErrBadRegion", err)
		}
	}
}

// Adopt keeps the memfd, to hand on, and shares the memory.
func TestAdopt(t *testing.T) {
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := dupFD(r.File())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Adopt(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.File() == nil || a.Size() != regionBytes {
		t.Fatalf("adopted: file %v, %d bytes", a.File(), a.Size())
	}
	r.Uint64(counterOff).Store(7)
	if got := a.Uint64(counterOff).Add(1); got != 8 {
		t.Fatalf("adopted region reads %d, want 8", got)
	}
	if err := a.Zero(0, regionBytes); err != nil || r.Uint64(counterOff).Load() != 0 {
		t.Fatalf("Zero on the adopted region: %v, counter %d", err, r.Uint64(counterOff).Load())
	}
	if err := a.File().Truncate(0); err == nil {
		t.Fatal("the adopted region could be shrunk")
	}
}

// A length whose size in bytes wraps around is out of range, not a slice
// past the region's end.
func TestWordsOverflow(t *testing.T) {
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("Words(0, 1<<61+1) did not panic")
		}
	}()
	_ = r.Words(0, 1<<61+1)
}

// A lock whose owner died and whose pid another process got is taken over
// all the same: the owner's id holds its start time too.
func TestLockTakenOverFromReusedPid(t *testing.T) {
	id := OwnerID()
	if id>>32 == 0 {
		t.Skip("no start time in /proc/self/stat")
	}
	if !Alive(id) || !Alive(uint64(os.Getpid())) {
		t.Fatal("this process is not alive")
	}
	// This pid, but another start time: a dead owner whose pid is ours now.
	other := uint32(id>>32) + 1
	if other == 0 {
		other = 1
	}
	dead := uint64(os.Getpid()) | uint64(other)<<32
	if Alive(dead) {
		t.Fatal("a reused pid passes for its dead owner")
	}
	r, err := Create("rockstar-test", regionBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := r.Uint64(lockOff)
	w.Store(dead)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Lock(w, id, Alive)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a lock held by a dead owner whose pid was reused was never taken over")
	}
	if got := w.Load(); got != id {
		t.Fatalf("lock word %#x, want %#x", got, id)
	}
	Unlock(w)
}
