package worker

import (
	"io"
	"net"
	"os"
	"syscall"
)

// fileFD is f's descriptor, taken once when the file is kept open
// (os.File.Fd would make the file blocking on every call).
func fileFD(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil {
		return -1
	}
	return fd
}

// sendfileChunk bounds one sendfile(2): the kernel moves at most about
// 2 GiB a call anyway, and smaller calls let the poller interleave.
const sendfileChunk = 4 << 20

// sendFile sends n bytes of k from its offset to c with sendfile(2) at an
// explicit offset, so that answers sharing k's descriptor never move one
// another's position; the write deadlines of c hold, as for any write.
// ok is false when c cannot take it (then nothing was sent).
func sendFile(c *net.TCPConn, k *keptFile, n int64) (sent int64, ok bool, err error) {
	if k.of.fd < 0 {
		return 0, false, nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	off := k.off
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		for n > 0 {
			m, e := syscall.Sendfile(int(fd), k.of.fd, &off, int(min(n, sendfileChunk)))
			if m > 0 {
				sent += int64(m)
				n -= int64(m)
			}
			switch {
			case e == syscall.EAGAIN:
				return false // wait until the socket takes more
			case e == syscall.EINTR:
			case e != nil:
				serr = os.NewSyscallError("sendfile", e)
				return true
			case m == 0:
				serr = io.ErrUnexpectedEOF // the file shrank under us
				return true
			}
		}
		return true
	})
	k.off += sent
	if serr == nil {
		serr = werr
	}
	return sent, true, serr
}
