//go:build linux

package netutil

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	childModes["pdeath-middle"] = childPdeathMiddle
	childModes["pdeath-leaf"] = childPdeathLeaf
}

// childPdeathMiddle starts a leaf child that should die with it, passes fd 3
// (a pipe to the test) down to it, and waits to be killed.
func childPdeathMiddle() error {
	// The thread that forks the leaf is its "parent" for PR_SET_PDEATHSIG;
	// keep this goroutine on one thread, which lives until the process dies.
	runtime.LockOSThread()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childModeEnv+"=pdeath-leaf", childPPIDEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{os.NewFile(3, "report")}
	if os.Getenv(childHowEnv) == "attr" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	cmd.Stdin = os.Stdin
	if err := cmd.Start(); err != nil {
		return err
	}
	waitForStdinEOF()
	cmd.Process.Kill()
	return errors.New("not killed before the test ended")
}

// childPdeathLeaf sets the parent death signal (unless the middle did it
// through SysProcAttr), reports its pid on fd 3 and waits to die.
func childPdeathLeaf() error {
	runtime.LockOSThread()
	ppid, err := strconv.Atoi(os.Getenv(childPPIDEnv))
	if err != nil {
		return err
	}
	if os.Getenv(childHowEnv) == "prctl" {
		if err := SetParentDeathSignal(syscall.SIGKILL); err != nil {
			return err
		}
	}
	if !ParentAlive(ppid) {
		return fmt.Errorf("parent %d gone before the test started", ppid)
	}
	report := os.NewFile(3, "report")
	if _, err := fmt.Fprintf(report, "%d\n", os.Getpid()); err != nil {
		return err
	}
	report.Close()
	waitForStdinEOF()
	return errors.New("outlived its parent")
}

func TestParentAlive(t *testing.T) {
	if !ParentAlive(os.Getppid()) {
		t.Fatal("ParentAlive(os.Getppid()) = false")
	}
	if ParentAlive(os.Getppid() + 1) {
		t.Fatal("ParentAlive of another pid = true")
	}
}

func TestSetParentDeathSignalRejectsABadSignal(t *testing.T) {
	if err := SetParentDeathSignal(syscall.Signal(1000)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("err = %v, want EINVAL", err)
	}
}

// TestParentDeathSignal starts a middle process that starts a leaf with the
// parent death signal set to SIGKILL, by the leaf itself on a locked thread
// ("prctl") or by the middle through SysProcAttr ("attr"); then it kills the
// middle with SIGKILL, as the master could be, and checks that the leaf dies
// of SIGKILL. The test process makes itself a child subreaper, so that the
// orphaned leaf becomes its child and it can wait for it.
func TestParentDeathSignal(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })

	for _, how := range []string{"prctl", "attr"} {
		t.Run(how, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			middle := startChild(t, "pdeath-middle", []string{childHowEnv + "=" + how}, w)
			w.Close()

			// The leaf reports its pid once its death signal is set.
			r.SetReadDeadline(time.Now().Add(20 * time.Second))
			line, err := bufio.NewReader(r).ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for the leaf's pid: %v", err)
			}
			leaf, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("leaf pid %q: %v", line, err)
			}
			// Once orphaned, the leaf is this process's child: reap it.
			type result struct {
				ws  unix.WaitStatus
				err error
			}
			reaped := make(chan result, 1)
			leafDone := false
			t.Cleanup(func() {
				if !leafDone {
					unix.Kill(leaf, unix.SIGKILL)
				}
			})

			if err := middle.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			middle.wait(20 * time.Second)
			go func() {
				var ws unix.WaitStatus
				_, err := unix.Wait4(leaf, &ws, 0, nil)
				for err == unix.EINTR {
					_, err = unix.Wait4(leaf, &ws, 0, nil)
				}
				reaped <- result{ws, err}
			}()
			select {
			case res := <-reaped:
				leafDone = true
				if res.err != nil {
					t.Fatalf("wait for leaf %d: %v", leaf, res.err)
				}
				if !res.ws.Signaled() || res.ws.Signal() != unix.SIGKILL {
					t.Fatalf("leaf %d ended with status %#x, want killed by SIGKILL", leaf, res.ws)
				}
			case <-time.After(5 * time.Second):
				unix.Kill(leaf, unix.SIGKILL)
				<-reaped
				leafDone = true
				t.Fatalf("leaf %d still alive 5s after its parent was killed", leaf)
			}
		})
	}
}
