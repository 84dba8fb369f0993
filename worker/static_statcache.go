package worker

import (
	"errors"
	"io/fs"
	"sync"
	"time"
)

// statCache spares the stat system calls of hot files (and of the
// precompressed siblings they lack), as nginx's open_file_cache does: a
// stat's answer, found or not, is kept statValid, then asked again, so a
// changed file is seen within that. It holds at most statMax names and
// starts afresh when full. What is served is still checked on the file
// opened (serveFile stats it again), so a stale entry never serves a FIFO.
type statCache struct {
	mu sync.RWMutex
	m  map[string]statEntry
}

type statEntry struct {
	info fs.FileInfo // nil: the name was not there
	at   time.Time
}

const (
	statValid = time.Second
	statMax   = 16 << 10
)

func newStatCache() *statCache { return &statCache{m: make(map[string]statEntry)} }

// stat is fs.Stat(fsys, name) through the cache; c may be nil (no cache).
func (c *statCache) stat(fsys fs.FS, name string) (fs.FileInfo, error) {
	if c == nil {
		return fs.Stat(fsys, name)
	}
	now := time.Now()
	c.mu.RLock()
	e, ok := c.m[name]
	c.mu.RUnlock()
	if ok && now.Sub(e.at) < statValid {
		if e.info == nil {
			return nil, fs.ErrNotExist
		}
		return e.info, nil
	}
	info, err := fs.Stat(fsys, name)
	if err != nil && !isNotExist(err) {
		return nil, err // not cached: a passing failure
	}
	c.mu.Lock()
	if len(c.m) >= statMax {
		clear(c.m)
	}
	c.m[name] = statEntry{info: info, at: now}
	c.mu.Unlock()
	return info, err
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
