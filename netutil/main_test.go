//go:build linux

package netutil

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The tests start this test binary again as a child process (the tableflip
// and fasthttp prefork pattern): TestMain sees childModeEnv and runs the
// child's part instead of the tests.
const (
	childModeEnv = "NETUTIL_TEST_CHILD" // which child to be
	childFDsEnv  = "NETUTIL_TEST_FDS"   // EncodeFDs of the inherited fds
	childSockEnv = "NETUTIL_TEST_SOCK"  // a Unix socket path to dial
	childPPIDEnv = "NETUTIL_TEST_PPID"  // the parent pid a child expects
	childHowEnv  = "NETUTIL_TEST_HOW"   // "prctl" or "attr": how to set the parent death signal
)

// childLimit bounds every child: none outlives a broken test by long.
const childLimit = 60 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintf(os.Stderr, "child %s (pid %d): %v\n", mode, os.Getpid(), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childModes maps a child mode to what the child does; the test files
// register theirs in init.
var childModes = map[string]func() error{}

func runChild(mode string) error {
	run, ok := childModes[mode]
	if !ok {
		return fmt.Errorf("unknown child mode %q", mode)
	}
	return run()
}

// waitForStdinEOF blocks until the test closes the write end of the pipe on
// the child's stdin, which it does when the test ends (or the test process
// dies): a child that waits to be killed never outlives the test.
func waitForStdinEOF() {
	io.Copy(io.Discard, os.Stdin)
}

// child is a started child process of the test binary.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // cmd.Wait's result, once done is closed
}

// startChild starts this binary as a child in mode, with extra environment
// and files (fd 3 onwards). The child is waited for in the background; the
// test's cleanup kills it by pid if it is still running, and prints its
// stderr if the test failed.
func startChild(t *testing.T, mode string, env []string, files ...*os.File) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// stderr goes to a file, not a pipe, so that Wait does not also wait for
	// grandchildren that inherit it.
	log, err := os.CreateTemp(t.TempDir(), "child-*.log")
	if err != nil {
		t.Fatal(err)
	}
	stdin, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), childModeEnv+"="+mode), env...)
	cmd.Stdin = stdin
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.ExtraFiles = files
	err = cmd.Start()
	stdin.Close()
	if err != nil {
		stdinW.Close()
		log.Close()
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			cmd.Process.Kill()
			<-c.done
		}
		stdinW.Close() // releases children waiting in waitForStdinEOF
		if t.Failed() {
			if out, err := os.ReadFile(log.Name()); err == nil && len(out) > 0 {
				t.Logf("child %s (pid %d) output:\n%s", mode, cmd.Process.Pid, out)
			}
		}
		log.Close()
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// wait waits up to limit for the child to exit and returns Wait's error; past
// the limit it kills the child and fails the test.
func (c *child) wait(limit time.Duration) error {
	c.t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(limit):
		c.cmd.Process.Kill()
		<-c.done
		c.t.Fatalf("child %d still running after %v; killed", c.pid(), limit)
		return nil
	}
}
