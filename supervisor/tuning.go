package supervisor

import (
	"os"
	"runtime"
	"strconv"
)

// workerRuntimeEnv is the Go runtime environment a worker of a generation
// of n workers gets: GOMAXPROCS set to the master's CPUs divided among the
// workers (rounded up, at least 1), unless the master's own environment
// sets GOMAXPROCS, which the workers then inherit as it is.
//
// With one worker per CPU, each worker would otherwise run as many Ps as
// there are CPUs: n² Ps on n CPUs. A P that finds no work spins and steals
// before it sleeps, and a worker's goroutines are woken on another of its
// threads; profiles of a loaded worker show that spinning and those
// wake-ups (findRunnable, futex, sched_yield), work that buys nothing when
// the other CPUs already run the other workers. fasthttp's prefork makes
// the same choice (GOMAXPROCS 1 in each child).
func workerRuntimeEnv(n int) []string {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(workerProcs(runtime.GOMAXPROCS(0), n))}
}

// workerProcs divides cpus among n workers, rounding up, at least 1 each.
func workerProcs(cpus, n int) int {
	if n < 1 {
		n = 1
	}
	return max(1, (cpus+n-1)/n)
}
