package supervisor

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestWorkerProcs(t *testing.T) {
	for _, c := range []struct{ cpus, n, want int }{
		{2, 2, 1}, {16, 16, 1}, {8, 2, 4}, {8, 3, 3}, {1, 4, 1}, {4, 0, 4}, {1, 1, 1},
	} {
		if got := workerProcs(c.cpus, c.n); got != c.want {
			t.Errorf("workerProcs(%d cpus, %d workers) = %d, want %d", c.cpus, c.n, got, c.want)
		}
	}
}

func TestWorkerRuntimeEnvKeepsTheUsersGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	t.Setenv("GODEBUG", "")
	if env := workerRuntimeEnv(2); slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		t.Errorf("with GOMAXPROCS set by the user, workerRuntimeEnv = %q, want it inherited", env)
	}
	os.Unsetenv("GOMAXPROCS")
	env := workerRuntimeEnv(1 << 20)
	if !slices.Contains(env, "GOMAXPROCS=1") || !slices.Contains(env, "GODEBUG="+sysmonAwake) {
		t.Errorf("workerRuntimeEnv(many workers) = %q, want GOMAXPROCS=1 and GODEBUG=%s", env, sysmonAwake)
	}
}

func TestWorkerGODEBUG(t *testing.T) {
	for _, c := range []struct {
		cur, want string
		set       bool
	}{
		{"", "schedtrace=2147483647", true},
		{"madvdontneed=1", "madvdontneed=1,schedtrace=2147483647", true},
		{"schedtrace=0", "", false},
		{"gctrace=1, schedtrace=1000", "", false},
	} {
		got, set := workerGODEBUG(c.cur)
		if got != c.want || set != c.set {
			t.Errorf("workerGODEBUG(%q) = %q, %v; want %q, %v", c.cur, got, set, c.want, c.set)
		}
	}
}
