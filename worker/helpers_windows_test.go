package worker

import "errors"

// mkfifo fails: Windows has no FIFOs in its file system.
func mkfifo(string, uint32) error { return errors.ErrUnsupported }
