package shm

import (
	"time"
)

// The clock of the region is CLOCK_MONOTONIC in nanoseconds, the same for
// every process on the machine, and positive (it counts from boot). Go's
// own monotonic readings, inside every time.Time from time.Now, come from
// the same clock but from a per-process origin; Mono converts them with an
// offset measured once per process.

var (
	// origin is a time.Time whose monotonic reading was taken at originNS
	// on CLOCK_MONOTONIC, to within originErr either way.
	origin    time.Time
	originNS  int64
	originErr time.Duration
)

func init() {
	// Bracket a CLOCK_MONOTONIC read between two time.Now calls and keep
	// the tightest bracket of a few tries: the offset is then known to
	// within half its width, tens of nanoseconds.
	originErr = time.Hour
	for range 16 {
		a := time.Now()
		ns := Now()
		b := time.Now()
		if w := b.Sub(a); w/2 < originErr {
			origin, originNS, originErr = a.Add(w/2), ns, w/2
		}
	}
}

// Mono returns the CLOCK_MONOTONIC time of t, a time.Time from time.Now
// (which carries a monotonic reading), in nanoseconds: the time every process
// that shares a region agrees on. It is a subtraction, not a system call.
func Mono(t time.Time) int64 { return originNS + int64(t.Sub(origin)) }

// MonoError is how far Mono of one process may be from another's, for the
// same instant: the width of the bracket its offset was measured in, twice.
func MonoError() time.Duration { return 2 * originErr }
