package shm

import (
	"runtime"
	"sync/atomic"
)

// A lock is one word in shared memory: 0 when free, else the id of the
// process that holds it (OwnerID: its pid and start time, so that a pid
// reused by another process is not taken for the dead owner). It guards critical sections of a few
// dozen instructions, so waiters spin, then yield. A process killed while
// holding it would leave it held for good; so a waiter that has waited
// long asks whether the owner still lives, and if not takes the lock over.
// What the dead owner left half-written is then the new owner's to live
// with: every structure guarded by a Lock here stays usable (an entry may
// lose one update).

// Spin counts before a waiter yields and before it checks the owner.
const (
	spinsBeforeYield = 64
	yieldsBeforeLook = 256
)

// Lock takes the lock word w for owner id (non-zero). alive reports
// whether another owner still runs; nil means always (one process).
func Lock(w *atomic.Uint64, id uint64, alive func(uint64) bool) {
	if w.CompareAndSwap(0, id) {
		return
	}
	lockSlow(w, id, alive)
}

func lockSlow(w *atomic.Uint64, id uint64, alive func(uint64) bool) {
	for i := 1; ; i++ {
		if i%spinsBeforeYield == 0 {
			runtime.Gosched()
			if alive != nil && i%(spinsBeforeYield*yieldsBeforeLook) == 0 {
				if o := w.Load(); o != 0 && o != id && !alive(o) && w.CompareAndSwap(o, id) {
					return
				}
			}
		}
		if w.Load() == 0 && w.CompareAndSwap(0, id) {
			return
		}
	}
}

// Unlock frees the lock word w.
func Unlock(w *atomic.Uint64) { w.Store(0) }
