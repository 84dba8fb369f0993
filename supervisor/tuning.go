package supervisor

import (
	"os"
	"strconv"
	"strings"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// workerRuntimeEnv is the Go runtime environment a worker of a generation
// of n workers gets, on top of the master's own:
//
//   - GOMAXPROCS set to the CPUs the master may use (config.CPUs: its
//     affinity mask and its container's CPU quota) divided among the workers
//     (rounded up, at least 1), unless the master's environment sets
//     GOMAXPROCS, which the workers then inherit as it is. With one worker
//     per CPU, each worker would otherwise run as many Ps as there are
//     CPUs: n² Ps on n CPUs. A P that finds no work spins and steals before
//     it sleeps, and a worker's goroutines are woken on another of its
//     threads; profiles of a loaded worker show that spinning and those
//     wake-ups (findRunnable, futex, sched_yield), work that buys nothing
//     when the other CPUs already run the other workers. fasthttp's prefork
//     makes the same choice (GOMAXPROCS 1 in each child).
//
//   - GODEBUG gains schedtrace=2147483647 (unless it sets schedtrace
//     already; GODEBUG=schedtrace=0 in the master's environment turns this
//     off). A worker under load goes idle and busy again many times a
//     millisecond, as its share of the connections wait on their clients.
//     Each time it is idle the runtime's monitor thread (sysmon) goes into a
//     deep sleep, the next system call wakes it (a futex wake on the
//     request path), and it then polls every 20 µs: in a worker under wrk
//     that thread woke about 5,000 times a second and used 10-20% of the
//     worker's CPU time. With schedtrace set, sysmon never deep-sleeps, so
//     it backs off to one wake-up every 10 ms as it does in a steadily busy
//     program. The trace period is the largest there is, about 24.8 days:
//     the only line it prints is one at start on a machine up for longer
//     than that, on the worker's stderr. An idle worker's sysmon then
//     wakes 100 times a second instead of sleeping.
func workerRuntimeEnv(n int) []string {
	var env []string
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(workerProcs(config.CPUs(), n)))
	}
	if gd, ok := workerGODEBUG(os.Getenv("GODEBUG")); ok {
		env = append(env, "GODEBUG="+gd)
	}
	return env
}

// sysmonAwake keeps the runtime's sysmon thread out of its deep sleep; see
// workerRuntimeEnv.
const sysmonAwake = "schedtrace=2147483647"

// workerGODEBUG returns the GODEBUG for workers given the master's, and
// false when it is to be inherited unchanged.
func workerGODEBUG(cur string) (string, bool) {
	for _, kv := range strings.Split(cur, ",") {
		if strings.HasPrefix(strings.TrimSpace(kv), "schedtrace=") {
			return "", false
		}
	}
	if strings.TrimSpace(cur) == "" {
		return sysmonAwake, true
	}
	return cur + "," + sysmonAwake, true
}

// workerProcs divides cpus among n workers, rounding up, at least 1 each.
func workerProcs(cpus, n int) int {
	if n < 1 {
		n = 1
	}
	return max(1, (cpus+n-1)/n)
}
