package worker

import "testing"

// A run of yields ends after yieldRun while the queue never empties; the
// next yieldRest idle phases, and the ones after while a yield of the old
// run is still queued, do not yield; once the queue empties, yields resume
// within yieldRest idle phases.
func TestYieldGateBoundsRuns(t *testing.T) {
	var y yieldGate
	yields := 0
	y.sched = func() { yields++ }
	count := func(n int) int {
		yields = 0
		for range n {
			y.yield()
		}
		return yields
	}
	// Alone, a goroutine's yields each begin a run of one: no limit.
	if got, want := count(3*yieldRun), 3*yieldRun; got != want {
		t.Errorf("yields with an empty queue: %d of %d", got, want)
	}
	// One goroutine yields and stays queued: the run it began never ends.
	y.yielding.Add(1)
	y.run.Store(1)
	if got, want := count(yieldRun-1), yieldRun-1; got != want {
		t.Errorf("yields in a run: %d, want %d", got, want+1)
	}
	if got := count(1 + yieldRest); got != 0 {
		t.Errorf("after a full run: %d yields during the rest, want 0", got)
	}
	if got := count(5 * yieldRest); got != 0 {
		t.Errorf("while the old run's yield is still queued: %d yields, want 0", got)
	}
	y.yielding.Add(-1) // the queue empties
	calls := 0
	for yields = 0; yields == 0 && calls <= yieldRest+1; calls++ {
		y.yield()
	}
	if yields == 0 {
		t.Fatalf("no yield in %d idle phases after the queue emptied", calls)
	}
	if got, want := count(2*yieldRun), 2*yieldRun; got != want {
		t.Errorf("after the queue emptied: %d yields, want %d", got, want)
	}
}

// The gate allocates nothing.
func TestYieldGateAllocatesNothing(t *testing.T) {
	var y yieldGate
	if n := testing.AllocsPerRun(100, y.yield); n != 0 {
		t.Errorf("%.1f allocations per yield", n)
	}
}
