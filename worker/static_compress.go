package worker

import (
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// On-the-fly compression of static files: a file of a compressible type
// (text, JSON, JavaScript, XML, SVG, WebAssembly) between compressMin and
// compressMax bytes, without a precompressed sibling, is sent br, zstd or
// gzip to a client that accepts one (in that order), compressed once per
// change of the file and kept in the host's compressCache, never per
// request. The answer says Vary: Accept-Encoding; its ETag is the file's
// with the coding added ("...-br"), and a Range is not honoured on it (the
// whole compressed file, as nginx's gzip does). A host switches it off
// with HostConfig.NoCompression.

const (
	compressMin      = 1 << 10 // smaller files gain nothing worth the header
	compressMax      = 8 << 20 // larger ones are read whole to be compressed
	compressCacheMax = 64 << 20
)

// compressible reports whether a Content-Type is worth compressing.
func compressible(ctype string) bool {
	t, _, _ := strings.Cut(ctype, ";")
	switch {
	case strings.HasPrefix(t, "text/"):
		return true
	}
	switch t {
	case "application/json", "application/javascript", "application/xml", "image/svg+xml",
		"application/wasm", "application/manifest+json", "application/ld+json", "application/rss+xml", "application/atom+xml":
		return true
	}
	return false
}

// compressCoding picks the coding to compress a file with for ctx, or "".
func compressCoding(ctx *fasthttp.RequestCtx) string {
	ae := ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding)
	if len(ae) == 0 {
		return ""
	}
	for _, p := range precompressed {
		if acceptsEncoding(ae, p.coding) {
			return p.coding
		}
	}
	return ""
}

// compressKey names a compressed file: a change of size or time is
// another file.
type compressKey struct {
	name, coding string
	size         int64
	mod          time.Time
}

// compressCache keeps compressed files, up to compressCacheMax bytes; when
// full it forgets an arbitrary half. Safe for concurrent use.
type compressCache struct {
	mu    sync.Mutex
	m     map[compressKey][]byte
	bytes int
}

func newCompressCache() *compressCache { return &compressCache{m: make(map[compressKey][]byte)} }

// get returns the compressed bytes of f (name, info) in coding, reading
// and compressing it on a miss.
func (c *compressCache) get(f fs.File, k compressKey) ([]byte, error) {
	c.mu.Lock()
	b, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	switch k.coding {
	case "br":
		b = fasthttp.AppendBrotliBytesLevel(nil, raw, fasthttp.CompressBrotliDefaultCompression)
	case "zstd":
		b = fasthttp.AppendZstdBytesLevel(nil, raw, fasthttp.CompressZstdDefault)
	default:
		b = fasthttp.AppendGzipBytesLevel(nil, raw, fasthttp.CompressDefaultCompression)
	}
	c.mu.Lock()
	if c.bytes+len(b) > compressCacheMax {
		for key, v := range c.m {
			delete(c.m, key)
			c.bytes -= len(v)
			if c.bytes <= compressCacheMax/2 {
				break
			}
		}
	}
	if _, dup := c.m[k]; !dup && len(b) <= compressCacheMax/2 {
		c.m[k] = b
		c.bytes += len(b)
	}
	c.mu.Unlock()
	return b, nil
}

// compressedETag is etag (quoted) with the coding added inside the quotes.
func compressedETag(etag []byte, coding string) []byte {
	if len(etag) < 2 {
		return etag
	}
	out := make([]byte, 0, len(etag)+len(coding)+1)
	out = append(out, etag[:len(etag)-1]...)
	out = append(out, '-')
	out = append(out, coding...)
	return append(out, '"')
}

// serveCompressed answers with f compressed in coding; f is closed.
func serveCompressed(ctx *fasthttp.RequestCtx, cache *compressCache, f fs.File, name, coding string, info fs.FileInfo) {
	defer f.Close()
	b, err := cache.get(f, compressKey{name: name, coding: coding, size: info.Size(), mod: info.ModTime()})
	if err != nil {
		ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, coding)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(b))
		ctx.Response.SkipBody = true
		return
	}
	ctx.Response.SetBodyRaw(b) // the cache's bytes are never changed
	ctx.Response.Header.SetContentLength(len(b))
}
