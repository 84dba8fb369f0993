package supervisor_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A USR2 whose new binary cannot start leaves the old master serving, and
// it says why.
func TestUpgradeFailureKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	// Run a copy of the binary, so the test can break "the binary on disk".
	bin := filepath.Join(t.TempDir(), "rockstar")
	data, err := os.ReadFile(rockstarBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	m := startMasterWith(t, configText(2, "hello"), func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin })
	oldPID := m.pid()

	// The new binary exits at once: the upgrade must fail.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	stop := load(t, m.addr, "hello.test", 4, 30*time.Second)
	m.signal(syscall.SIGUSR2)
	line := m.logs.wait(t, "upgrade failed; still serving", 20*time.Second)
	if line["error"] == nil {
		t.Errorf("the failure line gives no reason: %v", line)
	}
	res := stop()
	if res.failures() != 0 || res.OK.Load() == 0 {
		t.Fatalf("requests failed during a failed upgrade: %s", res)
	}
	if got := m.pid(); got != oldPID {
		t.Fatalf("pid file names %d, want the old master %d", got, oldPID)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("after the failed upgrade: %d %q %v", code, body, err)
	}
	select {
	case <-m.exited:
		t.Fatal("the old master exited after a failed upgrade")
	default:
	}
	// It took its shared memory back: a new generation gets its limits.
	m.writeConfig(configText(3, "after"))
	mustReload(t, m)
	m.waitWorkers(3, 15*time.Second)
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "after" {
		t.Fatalf("a reload after the failed upgrade: %d %q %v", code, body, err)
	}
}
