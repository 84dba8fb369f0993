package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process this program started. Every one is stopped by its pid,
// with the processes it started in turn, before the program exits.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait has returned
	err  error         // Wait's error, set before done is closed
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procTable tracks the running processes, for stopping them all at the end
// or on Ctrl-C.
type procTable struct {
	mu   sync.Mutex
	live []*proc
}

// start runs args[0] with args[1:]. Its stdout and stderr go to out (nil:
// discarded). It runs in a process group of its own, so a Ctrl-C at the
// terminal reaches only this program, which then stops it by pid.
func (t *procTable) start(name string, args []string, out io.Writer) (*proc, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Rockstar's workers share its stderr: do not wait on the pipe for
	// long once the process itself is gone.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.mu.Lock()
	t.live = append(t.live, p)
	t.mu.Unlock()
	return p, nil
}

// stop ends p and every process below it: SIGTERM to p, up to grace for it
// to exit (taking its children along), then SIGKILL to p and to each
// descendant still alive, each by pid (checked against its start time, so
// that a reused pid is never hit).
func (t *procTable) stop(p *proc, grace time.Duration) {
	t.mu.Lock()
	for i, q := range t.live {
		if q == p {
			t.live = append(t.live[:i], t.live[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	if p.exited() {
		return
	}
	kids := descendants(p.pid())
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, k := range kids {
		for k.alive() {
			if time.Now().After(deadline) {
				logf("warning: %s: process %d did not exit", p.name, k.pid)
				break
			}
			_ = syscall.Kill(k.pid, syscall.SIGKILL)
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// stopAll stops every process still running, the last started first.
func (t *procTable) stopAll() {
	for {
		t.mu.Lock()
		n := len(t.live)
		var p *proc
		if n > 0 {
			p = t.live[n-1]
		}
		t.mu.Unlock()
		if p == nil {
			return
		}
		t.stop(p, 5*time.Second)
	}
}

// pidStart names one process: its pid and its start time, in clock ticks
// since boot.
type pidStart struct {
	pid   int
	start uint64
}

// alive reports whether the process is still there and not a zombie.
func (ps pidStart) alive() bool {
	st, err := readStat(ps.pid)
	return err == nil && st.start == ps.start && st.state != 'Z' && st.state != 'X'
}

// procStat is what this program reads from /proc/PID/stat.
type procStat struct {
	pid, ppid int
	state     byte
	// utime+stime+cutime+cstime, in clock ticks: the process's CPU time
	// with that of the children it has waited for.
	cpu   uint64
	start uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

// parseStat parses /proc/PID/stat. The command name, in parentheses, may
// hold spaces and parentheses, so the fields are counted from the last ')'.
func parseStat(pid int, b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return procStat{}, errors.New("short stat")
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	st := procStat{pid: pid, state: f[0][0], start: num(22)}
	st.ppid = int(num(4))
	st.cpu = num(14) + num(15) + num(16) + num(17)
	return st, nil
}

// allStats reads /proc/*/stat of every process.
func allStats() []procStat {
	ents, _ := os.ReadDir("/proc")
	out := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// tree returns root and every process below it, found by following the
// ppid fields of /proc/*/stat.
func tree(root int) []procStat {
	all := allStats()
	kids := make(map[int][]procStat)
	var top *procStat
	for i := range all {
		kids[all[i].ppid] = append(kids[all[i].ppid], all[i])
		if all[i].pid == root {
			top = &all[i]
		}
	}
	if top == nil {
		return nil
	}
	out := []procStat{*top}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i].pid]...)
	}
	return out
}

// descendants lists the processes below root (not root itself).
func descendants(root int) []pidStart {
	var out []pidStart
	for i, st := range tree(root) {
		if i > 0 {
			out = append(out, pidStart{st.pid, st.start})
		}
	}
	return out
}

// treeCPU is the CPU time of root's whole process tree, children
// included, in all and by process.
func treeCPU(root int) (total time.Duration, byProc map[pidStart]time.Duration) {
	byProc = make(map[pidStart]time.Duration)
	for _, st := range tree(root) {
		d := ticksDur(st.cpu)
		total += d
		byProc[pidStart{st.pid, st.start}] = d
	}
	return total, byProc
}

func ticksDur(ticks uint64) time.Duration {
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks)
}

// busiestShare is the largest part of the tree's CPU time between two
// treeCPU samples that one process used. For a server with one process per
// CPU it tells how evenly the connections were spread: on 2 CPUs, 0.5 is
// even and 1.0 is every connection in one worker.
func busiestShare(before, after map[pidStart]time.Duration) float64 {
	var total, most time.Duration
	for p, d := range after {
		d -= before[p]
		total += d
		most = max(most, d)
	}
	if total <= 0 {
		return 0
	}
	return float64(most) / float64(total)
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times,
// read from the auxiliary vector (AT_CLKTCK); 100 if that fails.
var clockTicks = func() uint64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	const atClkTck = 17
	for i := 0; i+16 <= len(b); i += 16 {
		k, v := binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
		if k == atClkTck && v > 0 {
			return v
		}
	}
	return 100
}()

// rssKiB is VmRSS of one process, in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

// treeRSSKiB is the summed VmRSS of root's process tree.
func treeRSSKiB(root int) int64 {
	var sum int64
	for _, st := range tree(root) {
		if kb, err := rssKiB(st.pid); err == nil {
			sum += kb
		}
	}
	return sum
}

// sleep waits d, or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
