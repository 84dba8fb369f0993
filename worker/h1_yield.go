package worker

import (
	"runtime"
	"sync/atomic"
)

// Yielding before the next read, for connections served on a goroutine
// (the event loop's, h1_loop.go, are read only when the kernel says
// they have bytes). After a keep-alive response, fasthttp
// reads the connection's next request at once; the client has not sent it
// yet, so the read fails with EAGAIN and the goroutine parks until the
// poller sees the request (perf stat: 2.0 reads per request). When other
// connections of this worker have requests waiting, serving them first
// gives this client the time to send its next one: the first Read of the
// idle phase yields once (runtime.Gosched). In alternating wrk runs this
// took reads to 1.6 per request and CPU time per request down 4-7%; when
// nothing else is runnable the yield returns at once.
//
// Unbounded, yielding starves the network poller. A yielded goroutine goes
// to the scheduler's global queue, and the scheduler polls the network
// only when its queues are empty (or from sysmon, every 10 ms). In a
// worker that is busy all the time, connections that keep yielding keep
// the queue full, and a connection whose read found nothing waits for
// sysmon: its request's latency goes up to 10 ms (p99 4.9-7.5 ms against
// 1.3 ms without yields, one worker pinned to a CPU under wrk). So the
// yields of a binding's connections come in runs: a run begins when one
// yields while none other is yielding, and when it reaches yieldRun
// yields (the queue has not been empty since it began) the next yieldRest
// idle phases of the binding's connections begin without a yield, and so
// do the following ones until the yields in the queue have run: the
// goroutines read, park, empty the queue, and the poller runs.
// A worker that goes idle between bursts, as it does when it shares its
// CPUs, ends its runs long before yieldRun and keeps every yield. Runs
// are counted in yields rather than time, so that a worker the kernel
// preempts for a while does not take that for a full queue.
//
// Measured with one worker pinned to a CPU and wrk on the other: p99 1.3-1.9
// ms with these runs (4.5-6.4 ms with unbounded yields); with two workers
// sharing both CPUs with wrk, CPU time per request as low as with
// unbounded yields (9.4 and 9.6 µs, medians of 12 alternating runs) and
// 5% below no yields at all (10.0 µs).
const (
	yieldRun  = 64
	yieldRest = 8
)

// yieldGate is the yield state shared by a binding's connections.
type yieldGate struct {
	yielding atomic.Int32 // goroutines in a yield now
	run      atomic.Int32 // yields in the current run
	rest     atomic.Int32 // idle phases left to begin without a yield
	sched    func()       // the yield itself; nil: runtime.Gosched (tests count it)
}

// yield yields once, unless a run of yieldRun yields has just ended.
func (y *yieldGate) yield() {
	if y.rest.Load() > 0 {
		y.rest.Add(-1)
		return
	}
	if y.yielding.Add(1) == 1 {
		y.run.Store(0)
	}
	switch {
	case y.run.Add(1) > yieldRun:
		y.rest.Store(yieldRest)
	case y.sched != nil:
		y.sched()
	default:
		runtime.Gosched()
	}
	y.yielding.Add(-1)
}
