package worker

import (
	"io"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Small files from memory: a regular file of at most smallFileMax bytes
// is read once and then answered from memory while its size and
// modification time (as the stat cache sees them, within statValid) stay
// the same, with no open, fstat, read or close per request. A host keeps
// at most smallCacheMax bytes of them and starts afresh when full.

const (
	smallFileMax  = 256 << 10
	smallCacheMax = 8 << 20 // per host: a server of many hosts keeps it bounded
)

type smallFile struct {
	body  []byte
	size  int64
	mod   time.Time
	ctype string // sniffed, when the extension says nothing
}

type smallCache struct {
	mu    sync.RWMutex
	m     map[string]*smallFile
	bytes int
}

func newSmallCache() *smallCache { return &smallCache{m: make(map[string]*smallFile)} }

// get returns name's contents if they are those of info, reading them if
// not; nil when the file cannot be read or is no longer a regular file
// of info's size (the caller then serves it from the file).
func (c *smallCache) get(fsys fs.FS, name string, info fs.FileInfo) *smallFile {
	c.mu.RLock()
	sf := c.m[name]
	c.mu.RUnlock()
	if sf != nil && sf.size == info.Size() && sf.mod.Equal(info.ModTime()) {
		return sf
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != info.Size() || !st.ModTime().Equal(info.ModTime()) {
		return nil
	}
	body := make([]byte, st.Size())
	if _, err := io.ReadFull(f, body); err != nil {
		return nil
	}
	sf = &smallFile{body: body, size: st.Size(), mod: st.ModTime(), ctype: http.DetectContentType(body)}
	c.mu.Lock()
	if old := c.m[name]; old != nil {
		c.bytes -= len(old.body)
	}
	if c.bytes+len(body) > smallCacheMax {
		clear(c.m)
		c.bytes = 0
	}
	c.m[name] = sf
	c.bytes += len(body)
	c.mu.Unlock()
	return sf
}

// serveSmall answers from sf: a range of it, or all of it.
func serveSmall(ctx *fasthttp.RequestCtx, sf *smallFile, ctype string, rangeOK bool) {
	if ctype == "" {
		ctype = sf.ctype
	}
	ctx.SetContentType(ctype)
	ctx.Response.Header.Set(fasthttp.HeaderAcceptRanges, "bytes")
	body := sf.body
	if h := ctx.Request.Header.Peek(fasthttp.HeaderRange); rangeOK && len(h) > 0 {
		var buf [4]byteRange
		if rs, ok := parseRanges(h, sf.size, buf[:0]); ok {
			switch len(rs) {
			case 0:
				rangeNotSatisfiable(ctx, sf.size)
				return
			case 1:
				r := rs[0]
				setContentRange(ctx, r, sf.size)
				body = body[r.start : r.start+r.length]
			default:
				multipartBody(ctx, body, rs)
				return
			}
		}
	}
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.Response.SetBodyRaw(body) // the cache's bytes are never changed
}
