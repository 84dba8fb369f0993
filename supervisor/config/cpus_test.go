package config

import (
	"errors"
	"testing"
	"testing/fstest"
)

// A container's CPU quota bounds workers = "auto": cgroup v2's cpu.max
// and cgroup v1's cfs files, rounded up, never above the affinity mask's
// CPUs, never below 1.
func TestCPULimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		ncpu  int
		want  int
	}{
		{"no cgroup files", fstest.MapFS{}, 8, 8},
		{"v2 no limit", fstest.MapFS{"cpu.max": file("max 100000\n")}, 8, 8},
		{"v2 two CPUs", fstest.MapFS{"cpu.max": file("200000 100000\n")}, 8, 2},
		{"v2 1.5 CPUs rounds up", fstest.MapFS{"cpu.max": file("150000 100000\n")}, 8, 2},
		{"v2 a tenth of a CPU", fstest.MapFS{"cpu.max": file("10000 100000\n")}, 8, 1},
		{"v2 other period", fstest.MapFS{"cpu.max": file("250000 50000\n")}, 8, 5},
		{"v2 quota over the CPUs", fstest.MapFS{"cpu.max": file("1600000 100000\n")}, 4, 4},
		{"v2 quota without period", fstest.MapFS{"cpu.max": file("300000\n")}, 8, 3},
		{"v2 garbage", fstest.MapFS{"cpu.max": file("lots 100000\n")}, 8, 8},
		{"v2 empty", fstest.MapFS{"cpu.max": file("")}, 8, 8},
		{"v1 no limit", fstest.MapFS{"cpu/cpu.cfs_quota_us": file("-1\n"), "cpu/cpu.cfs_period_us": file("100000\n")}, 8, 8},
		{"v1 three CPUs", fstest.MapFS{"cpu/cpu.cfs_quota_us": file("300000\n"), "cpu/cpu.cfs_period_us": file("100000\n")}, 8, 3},
		{"v1 cpu,cpuacct 2.5 CPUs", fstest.MapFS{"cpu,cpuacct/cpu.cfs_quota_us": file("250000\n"), "cpu,cpuacct/cpu.cfs_period_us": file("100000\n")}, 8, 3},
		{"v1 no period file", fstest.MapFS{"cpu/cpu.cfs_quota_us": file("300000\n")}, 8, 8},
		{"v1 zero period", fstest.MapFS{"cpu/cpu.cfs_quota_us": file("300000\n"), "cpu/cpu.cfs_period_us": file("0\n")}, 8, 8},
		{"v2 wins over v1", fstest.MapFS{"cpu.max": file("100000 100000\n"), "cpu/cpu.cfs_quota_us": file("300000\n"), "cpu/cpu.cfs_period_us": file("100000\n")}, 8, 1},
		{"one CPU, no quota", fstest.MapFS{}, 1, 1},
		{"NumCPU 0 is still 1", fstest.MapFS{}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := CPULimit{Cgroup: tc.files, NumCPU: func() int { return tc.ncpu }}
			if got := l.CPUs(); got != tc.want {
				t.Errorf("CPUs() = %d, want %d", got, tc.want)
			}
		})
	}
	if got := (CPULimit{NumCPU: func() int { return 6 }}).CPUs(); got != 6 {
		t.Errorf("without a cgroup root, CPUs() = %d, want 6", got)
	}
}

// stop_signal_graceful: the file's value when given, else graceful only
// as PID 1 or under Kubernetes.
func TestTermGraceful(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	k8s := map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
	for _, tc := range []struct {
		doc  string
		pid  int
		env  map[string]string
		want bool
	}{
		{"", 4242, nil, false},
		{"", 1, nil, true},
		{"", 4242, k8s, true},
		{"stop_signal_graceful = true\n", 4242, nil, true},
		{"stop_signal_graceful = false\n", 1, k8s, false},
	} {
		c := mustParse(t, "[supervisor]\n"+tc.doc+"[[server]]\nlisten = \":80\"\n")
		if got := c.Supervisor.TermGraceful(tc.pid, env(tc.env)); got != tc.want {
			t.Errorf("%q pid %d env %v: TermGraceful = %v, want %v", tc.doc, tc.pid, tc.env, got, tc.want)
		}
	}
	_, err := Parse("x.toml", []byte("[supervisor]\nstop_signal_graceful = \"yes\"\n[[server]]\nlisten = \":80\"\n"))
	if !errors.Is(err, ErrType) {
		t.Errorf("stop_signal_graceful = \"yes\": %v, want ErrType", err)
	}
}
