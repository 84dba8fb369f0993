package supervisor

import (
	"os"
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
	if env := workerRuntimeEnv(2); len(env) != 0 {
		t.Errorf("with GOMAXPROCS set by the user, workerRuntimeEnv = %q, want nothing (inherited)", env)
	}
	os.Unsetenv("GOMAXPROCS")
	if env := workerRuntimeEnv(1 << 20); len(env) != 1 || env[0] != "GOMAXPROCS=1" {
		t.Errorf("workerRuntimeEnv(many workers) = %q, want [GOMAXPROCS=1]", env)
	}
}
