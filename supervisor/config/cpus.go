package config

import (
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// CPUs is the number of CPUs this process may use, what workers = "auto"
// resolves to: the CPUs of its affinity mask (runtime.NumCPU), lowered to
// its cgroup's CPU quota rounded up, at least 1. The quota is the one a
// container runtime sets (docker --cpus, a Kubernetes CPU limit): cgroup v2's
// cpu.max at /sys/fs/cgroup, or cgroup v1's cpu.cfs_quota_us over
// cpu.cfs_period_us under /sys/fs/cgroup/cpu (or cpu,cpuacct). A quota of
// 1.5 CPUs is 2 workers; no quota, or files that cannot be read, leave the
// CPU count as it is.
func CPUs() int {
	return CPULimit{Cgroup: os.DirFS("/sys/fs/cgroup"), NumCPU: runtime.NumCPU}.CPUs()
}

// CPULimit is CPUs with its sources made explicit, for tests: Cgroup is
// the cgroup file system's root (nil: no quota) and NumCPU the CPUs of the
// affinity mask.
type CPULimit struct {
	Cgroup fs.FS
	NumCPU func() int
}

// CPUs is min(NumCPU, ceil(quota/period)), at least 1.
func (l CPULimit) CPUs() int {
	n := l.NumCPU()
	if q, ok := l.quota(); ok && q < n {
		n = q
	}
	return max(n, 1)
}

// quota reads the CPU quota in whole CPUs, rounded up; ok is false when
// there is none.
func (l CPULimit) quota() (int, bool) {
	if l.Cgroup == nil {
		return 0, false
	}
	// cgroup v2: "max 100000" or "150000 100000".
	if b, err := fs.ReadFile(l.Cgroup, "cpu.max"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 0 || f[0] == "max" {
			return 0, false
		}
		period := "100000"
		if len(f) > 1 {
			period = f[1]
		}
		return ceilDiv(f[0], period)
	}
	// cgroup v1: quota -1 is none.
	for _, dir := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
		q, err := fs.ReadFile(l.Cgroup, dir+"/cpu.cfs_quota_us")
		if err != nil {
			continue
		}
		p, err := fs.ReadFile(l.Cgroup, dir+"/cpu.cfs_period_us")
		if err != nil {
			return 0, false
		}
		return ceilDiv(strings.TrimSpace(string(q)), strings.TrimSpace(string(p)))
	}
	return 0, false
}

// ceilDiv is ceil(quota/period) for two decimal strings; ok is false for a
// quota that is not positive or numbers that do not parse.
func ceilDiv(quota, period string) (int, bool) {
	q, err1 := strconv.ParseInt(quota, 10, 64)
	p, err2 := strconv.ParseInt(period, 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	c := (q + p - 1) / p
	if c > int64(MaxWorkers)*64 { // far past any machine; keeps the int small
		c = int64(MaxWorkers) * 64
	}
	return int(c), true
}

// TermGraceful reports whether SIGTERM and SIGINT stop gracefully (as
// SIGQUIT does) for a master of process id pid whose environment getenv
// reads: stop_signal_graceful when the file sets it, else true for PID 1
// (a container's init, which a runtime stops with SIGTERM alone) and under
// Kubernetes (KUBERNETES_SERVICE_HOST set), else false.
func (s Supervisor) TermGraceful(pid int, getenv func(string) string) bool {
	if s.StopSignalGracefulSet {
		return s.StopSignalGraceful
	}
	return pid == 1 || getenv("KUBERNETES_SERVICE_HOST") != ""
}
