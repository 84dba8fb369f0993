package netutil

import (
	"fmt"
	"os"
	"syscall"
)

// SetParentDeathSignal asks the kernel to send sig to this process when its
// parent dies (prctl PR_SET_PDEATHSIG), so that a worker whose master is
// killed, even with SIGKILL, does not live on as an orphan.
//
// The setting belongs to the calling OS thread, not the process: it is lost
// if that thread exits, and Go ends a thread when a goroutine that locked it
// returns. So call it on a thread that lives as long as the process: the
// main thread, from main with the main goroutine locked to it, as in
//
//	func init() { runtime.LockOSThread() } // main runs on the main thread
//
//	func main() {
//		if err := netutil.SetParentDeathSignal(syscall.SIGKILL); err != nil { ... }
//		if !netutil.ParentAlive(masterPID) { os.Exit(1) } // it died before the call
//		...
//	}
//
// The kernel also clears the setting when the process changes credentials,
// so a worker that drops from root to another user must call it after
// setuid/setgid. On systems other than Linux it returns an error wrapping
// ErrUnsupported.
//
// The other way to get the same is for the parent to set
// exec.Cmd.SysProcAttr.Pdeathsig: Go then sets it in the child between fork
// and exec, on the thread that becomes the child's main thread, so the child
// needs no code, and it holds for any binary. But there "parent" means the
// parent's thread that forked: the signal fires when that OS thread exits,
// even though the parent lives on. So the parent must start children from a
// goroutine that does not call runtime.LockOSThread and then return (Go
// threads otherwise live until the process exits). A child started with
// credentials (SysProcAttr.Credential) keeps the setting, since Go applies
// Pdeathsig after the credential change, and the setting survives the exec
// (unless the binary is set-user-ID or has file capabilities). Go also
// signals the child at once if the parent died before the setting took
// effect. A child that calls SetParentDeathSignal itself closes that gap with
// ParentAlive, after the call.
func SetParentDeathSignal(sig syscall.Signal) error {
	if err := setPdeathsig(sig); err != nil {
		return fmt.Errorf("netutil: set parent death signal %v: %w", sig, err)
	}
	return nil
}

// ParentAlive reports whether the process's parent is still ppid, the parent
// it started with (a worker is told its master's pid, or records
// os.Getppid() first thing). Once the parent dies the process is reparented
// to init or a subreaper and its parent pid changes. Comparing with the
// original pid, rather than testing for pid 1, stays right when the master
// itself is pid 1 in a container.
func ParentAlive(ppid int) bool {
	return os.Getppid() == ppid
}
