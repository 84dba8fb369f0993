//go:build !linux

package shm

import "time"

var start = time.Now()

// Now returns nanoseconds on this process's monotonic clock; without a
// region shared with other processes, that is all it needs to agree with.
func Now() int64 { return int64(time.Since(start)) + 1 }
