package shm

import "golang.org/x/sys/unix"

// Now reads CLOCK_MONOTONIC, in nanoseconds.
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
