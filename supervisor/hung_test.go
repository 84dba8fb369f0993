package supervisor_test

import (
	"syscall"
	"testing"
	"time"
)

// A worker that stops answering (SIGSTOP) misses 3 health checks in a row
// (one a second), and then the master kills it and starts another in its slot.
func TestHungWorkerReplaced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	m.waitWorkers(2, 10*time.Second)
	// Wait for a health answer, so the hung worker is known to have answered before.
	waitFor(t, "a first health answer", 5*time.Second, func() bool {
		w := m.status().Workers[0]
		return w.LastHealth >= 0
	})
	victim := m.status().Workers[0]
	if err := syscall.Kill(victim.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a stopped process ignores everything but SIGKILL and SIGCONT
		if alive(victim.PID) {
			_ = syscall.Kill(victim.PID, syscall.SIGCONT)
			_ = syscall.Kill(victim.PID, syscall.SIGKILL)
		}
	})
	stopped := time.Now()

	hung := m.logs.wait(t, "worker hung: missed health checks; killing it", 10*time.Second)
	if hung["worker_pid"] != float64(victim.PID) || hung["pid"] != float64(m.cmd.Process.Pid) || hung["slot"] != float64(victim.Slot) || hung["missed"] != float64(3) {
		t.Errorf("hung line %v, want worker_pid %d pid %d slot %d missed 3", hung, victim.PID, m.cmd.Process.Pid, victim.Slot)
	}
	if d := time.Since(stopped); d < 2*time.Second {
		t.Errorf("killed %s after it stopped answering: sooner than 3 missed checks", d)
	}
	w := m.slotWorker(victim.Slot, map[int]bool{victim.PID: true}, 5*time.Second)
	t.Logf("hung worker %d replaced by %d in slot %d after %s", victim.PID, w.PID, w.Slot, time.Since(stopped).Round(time.Millisecond))
	waitFor(t, "the hung worker to be gone", 2*time.Second, func() bool { return !alive(victim.PID) })
	if w.Restarts != 1 {
		t.Errorf("slot %d restarts = %d, want 1", w.Slot, w.Restarts)
	}
	// The other worker answered all along and was left alone.
	st := m.status()
	if o := st.Workers[1]; o.Restarts != 0 || o.Missed != 0 {
		t.Errorf("the healthy worker: %+v", o)
	}
	for i := 0; i < 4; i++ { // both workers serve
		if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
			t.Fatalf("after the replacement: %d %q %v", code, body, err)
		}
	}
}
