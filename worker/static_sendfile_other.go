//go:build !linux

package worker

import (
	"net"
	"os"
)

func fileFD(*os.File) int { return -1 }

// sendFile is Linux's alone; elsewhere kept files are read and written.
func sendFile(*net.TCPConn, *keptFile, int64) (int64, bool, error) { return 0, false, nil }
