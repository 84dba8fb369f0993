package worker

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// Open files kept open: a regular file over smallFileMax bytes (the
// smaller ones are answered from memory, static_small.go) stays open
// after its first answer, as nginx's open_file_cache keeps it, so a hot
// file costs no open, fstat or close per request. An entry is used while
// the stat cache (within statValid) sees the same file: the same inode
// (os.SameFile), size and modification time; a changed or replaced file
// is opened afresh, and the old one is closed when the last answer that
// reads it is done. A host keeps at most fdCacheMax open files and starts
// afresh when full.
//
// Every answer reads the shared descriptor at its own offset (pread, or
// sendfile with an explicit offset: sendFile), never through the file's
// own position, so any number of answers read one file at once.
//
// Only files of a filesystem whose Open gives an *os.File (os.DirFS) are
// kept; for any other the cache turns itself off at the first open, and
// serveFile opens the file per request as before.

// fdCacheMax bounds a host's open files: a server of many hosts keeps
// its descriptors bounded.
const fdCacheMax = 64

// openFile is one kept-open file, shared by the cache and every answer
// reading it; the last of them to let go closes it.
type openFile struct {
	f    *os.File
	fd   int         // f's descriptor, for sendfile (-1: none)
	info fs.FileInfo // what f was when opened
	refs atomic.Int32
}

func (o *openFile) acquire() { o.refs.Add(1) }

func (o *openFile) release() {
	if o.refs.Add(-1) == 0 {
		o.f.Close()
	}
}

// fdCache is a host's kept-open files by name.
type fdCache struct {
	off atomic.Bool // the filesystem gives no *os.File
	mu  sync.Mutex
	m   map[string]*openFile
}

func newFDCache() *fdCache { return &fdCache{m: make(map[string]*openFile)} }

// errNotKept means a file is not one the cache keeps.
var errNotKept = errors.New("worker: file not kept open")

// open returns a handle on name, a regular file that the stat cache sees
// as info, from the cache or newly opened into it. The handle is the
// caller's to close. err is errNotKept when the cache does not keep the
// file (the caller opens it itself), or the open's error.
func (c *fdCache) open(fsys fs.FS, name string, info fs.FileInfo) (fs.File, error) {
	if c == nil || c.off.Load() || info.Size() <= smallFileMax {
		return nil, errNotKept
	}
	c.mu.Lock()
	o := c.m[name]
	if o != nil && sameFile(o.info, info) {
		o.acquire()
		c.mu.Unlock()
		return &keptFile{of: o}, nil
	}
	c.mu.Unlock()

	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	osf, ok := f.(*os.File)
	if !ok {
		c.off.Store(true)
		f.Close()
		return nil, errNotKept
	}
	st, err := osf.Stat()
	if err != nil || !st.Mode().IsRegular() {
		osf.Close()
		return nil, fs.ErrNotExist
	}
	o = &openFile{f: osf, fd: fileFD(osf), info: st}
	o.refs.Store(2) // the cache's and the caller's
	c.mu.Lock()
	if old := c.m[name]; old != nil {
		old.release()
	} else if len(c.m) >= fdCacheMax {
		for _, e := range c.m {
			e.release()
		}
		clear(c.m)
	}
	c.m[name] = o
	c.mu.Unlock()
	return &keptFile{of: o}, nil
}

// sameFile reports whether a, a kept file's info, is still the file the
// stat cache sees as b.
func sameFile(a, b fs.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && os.SameFile(a, b)
}

// keptFile is one answer's handle on a kept-open file: an fs.File with
// its own offset, read with ReadAt; Close lets go of the file.
type keptFile struct {
	of     *openFile
	off    int64
	closed bool
}

func (k *keptFile) Stat() (fs.FileInfo, error) { return k.of.info, nil }

func (k *keptFile) Read(p []byte) (int, error) {
	n, err := k.of.f.ReadAt(p, k.off)
	k.off += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func (k *keptFile) ReadAt(p []byte, off int64) (int, error) { return k.of.f.ReadAt(p, off) }

func (k *keptFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += k.off
	case io.SeekEnd:
		offset += k.of.info.Size()
	default:
		return k.off, fs.ErrInvalid
	}
	if offset < 0 {
		return k.off, fs.ErrInvalid
	}
	k.off = offset
	return offset, nil
}

// Close lets go of the file; closing twice is a no-op.
func (k *keptFile) Close() error {
	if !k.closed {
		k.closed = true
		k.of.release()
	}
	return nil
}

// sendKept sends r to c with sendFile when r is a kept file's body as
// fasthttp hands it to ReadFrom (an io.LimitedReader of it) and c a TCP
// socket; sent is false, and nothing sent, otherwise.
func sendKept(c net.Conn, r io.Reader) (n int64, sent bool, err error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return 0, false, nil
	}
	k, ok := lr.R.(*keptFile)
	tc, isTCP := c.(*net.TCPConn)
	if !ok || !isTCP {
		return 0, false, nil
	}
	n, sent, err = sendFile(tc, k, min(lr.N, k.of.info.Size()-k.off))
	lr.N -= n
	return n, sent, err
}
