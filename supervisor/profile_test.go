package supervisor_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor"
)

// With ROCKSTAR_CPUPROFILE set, each worker writes a pprof CPU profile
// named by its slot and pid when it exits.
func TestWorkerCPUProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	prefix := filepath.Join(t.TempDir(), "prof")
	m := startMasterWith(t, configText(2, "hello"), func(c *exec.Cmd) {
		c.Env = append(os.Environ(), supervisor.EnvCPUProfile+"="+prefix)
	})
	pids := m.waitWorkers(2, 10*time.Second)
	for range 50 {
		if code, _, err := m.get("hello.test", "/"); err != nil || code != 200 {
			t.Fatalf("GET = %d, %v", code, err)
		}
	}
	m.signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the master did not exit on SIGTERM")
	}
	files, _ := filepath.Glob(prefix + ".*.pprof")
	if len(files) != 2 {
		t.Fatalf("profiles %q, want one per worker", files)
	}
	for _, pid := range pids {
		var found bool
		for _, f := range files {
			if strings.HasSuffix(f, "."+strconv.Itoa(pid)+".pprof") {
				found = true
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				// A profile is gzipped protobuf.
				if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
					t.Errorf("%s is not a pprof profile (%d bytes)", f, len(b))
				}
			}
		}
		if !found {
			t.Errorf("no profile of worker %d in %q", pid, files)
		}
	}
}
