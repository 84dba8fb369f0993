//go:build unix

package worker

import "syscall"

// mkfifo makes a FIFO at path.
func mkfifo(path string, mode uint32) error { return syscall.Mkfifo(path, mode) }
