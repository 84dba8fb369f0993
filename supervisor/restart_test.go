package supervisor_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor"
)

// slotWorker waits until slot's worker is ready with a pid not in old, and
// returns its status line.
func (m *master) slotWorker(slot int, old map[int]bool, d time.Duration) supervisor.WorkerStatus {
	m.t.Helper()
	var got supervisor.WorkerStatus
	waitFor(m.t, "a new ready worker in the slot", d, func() bool {
		for _, w := range m.status().Workers {
			if w.Slot == slot && w.PID > 0 && !old[w.PID] && w.State == supervisor.StateReady {
				got = w
				return true
			}
		}
		return false
	})
	return got
}

// An unexpected exit is restarted at once, in the same slot, and counted.
func TestRestartCrashedWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	m.waitWorkers(2, 10*time.Second)
	st := m.status()
	victim := st.Workers[1]
	other := st.Workers[0]
	killed := time.Now()
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w := m.slotWorker(victim.Slot, map[int]bool{victim.PID: true}, 5*time.Second)
	t.Logf("slot %d: pid %d replaced by %d, ready after %s", victim.Slot, victim.PID, w.PID, time.Since(killed).Round(time.Millisecond))
	if w.Restarts != 1 {
		t.Errorf("slot %d restarts = %d, want 1", w.Slot, w.Restarts)
	}
	if n := len(m.logs.find("waiting before restart")); n != 0 {
		t.Errorf("the first crash waited before its restart (%d backoff lines)", n)
	}
	exit := m.logs.wait(t, "worker exited unexpectedly; restarting", time.Second)
	if exit["slot"] != float64(victim.Slot) || exit["worker_pid"] != float64(victim.PID) || exit["pid"] != float64(m.cmd.Process.Pid) {
		t.Errorf("exit line names slot %v worker_pid %v pid %v, want slot %d worker_pid %d pid %d (the master)",
			exit["slot"], exit["worker_pid"], exit["pid"], victim.Slot, victim.PID, m.cmd.Process.Pid)
	}
	st = m.status()
	if st.Restarts != 1 {
		t.Errorf("master restarts = %d, want 1", st.Restarts)
	}
	if len(st.Workers) != 2 || st.Workers[0].PID != other.PID || st.Workers[0].Restarts != 0 {
		t.Errorf("the other slot changed: %+v, was %+v", st.Workers, other)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("after the restart: %d %q %v", code, body, err)
	}
}

// Crashes in a row back off exponentially (none, then 100ms, 200ms, 400ms,
// ...), and the master itself never exits because a worker died.
func TestRestartBackoff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(1, "hello"))
	m.waitWorkers(1, 10*time.Second)
	const crashes = 5
	seen := map[int]bool{}
	w := m.status().Workers[0]
	var gaps []time.Duration
	for i := 1; i <= crashes; i++ {
		seen[w.PID] = true
		killed := time.Now()
		if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		w = m.slotWorker(0, seen, 10*time.Second)
		gaps = append(gaps, time.Since(killed))
		if w.Restarts != i {
			t.Errorf("after crash %d: restarts = %d", i, w.Restarts)
		}
		select {
		case <-m.exited:
			t.Fatalf("the master exited after crash %d of its worker", i)
		default:
		}
	}
	t.Logf("kill to ready: %v", gaps)

	want := []float64{100, 200, 400, 800} // ms, for crashes 2..5
	lines := m.logs.find("waiting before restart")
	if len(lines) != len(want) {
		t.Fatalf("%d \"waiting before restart\" lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, l := range lines {
		if l["backoff"] != want[i] || l["slot"] != float64(0) {
			t.Errorf("backoff line %d: %v, want backoff %vms in slot 0", i+1, l, want[i])
		}
	}
	// Each restart waited at least its backoff.
	for i, g := range gaps[1:] {
		if min := time.Duration(want[i]) * time.Millisecond; g < min {
			t.Errorf("crash %d: restarted after %s, before its backoff of %s", i+2, g, min)
		}
	}
	if st := m.status(); st.Restarts != crashes || st.PID != m.cmd.Process.Pid {
		t.Errorf("status: restarts %d (want %d), master pid %d (want %d)", st.Restarts, crashes, st.PID, m.cmd.Process.Pid)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("after %d crashes: %d %q %v", crashes, code, body, err)
	}
}
