package supervisor_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphanBound is how long the workers of a killed master may outlive it.
const orphanBound = time.Second

// After kill -9 of the master, every worker is gone within a second.
func TestOrphansKillMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	pids := m.waitWorkers(2, 10*time.Second)
	if err := syscall.Kill(m.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-m.exited
	waitGone(t, pids, killed)
}

// The same when the master is PID 1 (of a new pid namespace, as in a
// container), where the workers' parent pid never changes to 1.
func TestOrphansKillMasterPID1(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a pid namespace with unshare")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux) to run the master as PID 1")
	}
	if out, err := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare --pid --fork --mount-proc does not work here: %v: %s", err, out)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rockstar.toml")
	if err := os.WriteFile(cfgPath, []byte(configText(2, "hello")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc",
		rockstarBin, "run", "-c", cfgPath, "--log-format", "json")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	logs := newLogLines()
	copied := make(chan struct{})
	go func() { // ends when every process holding the pipe has exited
		_, _ = io.Copy(logs, pr)
		pr.Close()
		close(copied)
	}()
	exited := make(chan struct{})
	go func() { // ends when unshare exits; cleanup waits for it
		_ = cmd.Wait()
		close(exited)
	}()
	// Pids in the master's log and status are the namespace's own: only
	// pids read from this namespace's /proc are ever signalled.
	var outer []int
	t.Cleanup(func() {
		for _, pid := range append([]int{cmd.Process.Pid}, outer...) {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Errorf("unshare (pid %d) did not exit", cmd.Process.Pid)
		}
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
			t.Errorf("a process still holds the master's output 5s after cleanup")
		}
		if t.Failed() {
			t.Logf("master output:\n%s", logs.String())
		}
	})

	ready := logs.wait(t, "ready", 30*time.Second)
	ls, _ := ready["listeners"].([]any)
	if len(ls) == 0 {
		t.Fatalf("no listeners in the ready line: %v", ready)
	}
	addr, _, _ := strings.Cut(ls[0].(string), " ")
	probe := &master{t: t, addr: addr}
	if code, body, err := probe.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("the master as PID 1 does not serve: %d %q %v", code, body, err)
	}
	var masterPID int
	waitFor(t, "the master, unshare's child", 5*time.Second, func() bool {
		kids := childrenOf(cmd.Process.Pid)
		if len(kids) == 1 {
			masterPID = kids[0]
			return true
		}
		return false
	})
	outer = append(outer, masterPID)
	if ns := nsPIDs(masterPID); len(ns) < 2 || ns[len(ns)-1] != 1 {
		t.Fatalf("the master (pid %d) is not PID 1 of its namespace: NSpid %v", masterPID, ns)
	}
	var workers []int
	waitFor(t, "2 workers", 5*time.Second, func() bool {
		workers = childrenOf(masterPID)
		return len(workers) == 2
	})
	outer = append(outer, workers...)

	if err := syscall.Kill(masterPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, workers, time.Now())
}

// waitGone fails unless every pid is gone (exited, or a zombie) within
// orphanBound of since.
func waitGone(t *testing.T, pids []int, since time.Time) {
	t.Helper()
	deadline := since.Add(orphanBound)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			t.Logf("all %d workers gone %s after the master's kill", len(pids), time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %v still alive %s after kill -9 of their master", left, orphanBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(p); ok && ppid == pid && state != "Z" {
			out = append(out, p)
		}
	}
	return out
}

// nsPIDs is the NSpid line of pid's status: its pid in each pid namespace,
// outermost first.
func nsPIDs(pid int) []int {
	rest, ok := procStatus(pid, "NSpid")
	if !ok {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(rest) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}
