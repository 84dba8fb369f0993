package worker

import (
	"bytes"
	"io"
	"io/fs"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Byte ranges for static files (RFC 9110 14): every file answer says
// Accept-Ranges: bytes; a GET with one satisfiable range ("bytes=0-99",
// "bytes=100-", "bytes=-100") gets 206 with Content-Range and that part;
// one with no satisfiable range gets 416 with Content-Range: bytes */size.
// A Range with several ranges is answered with the whole file (200), a
// documented choice RFC 9110 14.2 allows; so is a Range this server does
// not read (another unit, bad syntax).

// byteRange is one satisfiable range of a file: [start, start+length).
type byteRange struct{ start, length int64 }

// parseRange reads a Range header against a file of size bytes. ok is
// false when the header is to be ignored (not bytes=, malformed, several
// ranges); satisfiable is false when it names nothing of the file.
func parseRange(h []byte, size int64) (r byteRange, ok, satisfiable bool) {
	spec, found := bytes.CutPrefix(bytes.TrimSpace(h), []byte("bytes="))
	if !found || bytes.IndexByte(spec, ',') >= 0 {
		return r, false, false
	}
	spec = bytes.TrimSpace(spec)
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return r, false, false
	}
	first, last := spec[:dash], spec[dash+1:]
	switch {
	case len(first) == 0: // a suffix: the last n bytes
		n, err := strconv.ParseInt(string(last), 10, 64)
		if err != nil || n < 0 {
			return r, false, false
		}
		if n == 0 || size == 0 {
			return r, true, false
		}
		n = min(n, size)
		return byteRange{size - n, n}, true, true
	default:
		start, err := strconv.ParseInt(string(first), 10, 64)
		if err != nil || start < 0 {
			return r, false, false
		}
		end := size - 1
		if len(last) > 0 {
			e, err := strconv.ParseInt(string(last), 10, 64)
			if err != nil || e < start {
				return r, false, false
			}
			end = min(e, size-1)
		}
		if start >= size {
			return r, true, false
		}
		return byteRange{start, end - start + 1}, true, true
	}
}

// rangeNotSatisfiable answers 416 for a file of size bytes.
func rangeNotSatisfiable(ctx *fasthttp.RequestCtx, size int64) {
	var cr [32]byte
	ctx.Response.ResetBody()
	ctx.Response.Header.SetBytesV(fasthttp.HeaderContentRange, strconv.AppendInt(append(cr[:0], "bytes */"...), size, 10))
	ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
	ctx.SetBodyString("Range Not Satisfiable")
}

// setContentRange makes the answer 206 for r of a file of size bytes.
func setContentRange(ctx *fasthttp.RequestCtx, r byteRange, size int64) {
	var cr [64]byte
	b := append(cr[:0], "bytes "...)
	b = strconv.AppendInt(b, r.start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.start+r.length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderContentRange, b)
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
}

// serveRange answers a GET or HEAD that asks for a range of f (size
// bytes), if it does (true); f is closed or handed to the response.
func serveRange(ctx *fasthttp.RequestCtx, f fs.File, size int64) bool {
	h := ctx.Request.Header.Peek(fasthttp.HeaderRange)
	if len(h) == 0 {
		return false
	}
	r, ok, satisfiable := parseRange(h, size)
	if !ok {
		return false
	}
	if !satisfiable {
		f.Close()
		rangeNotSatisfiable(ctx, size)
		return true
	}
	setContentRange(ctx, r, size)
	if ctx.IsHead() {
		f.Close()
		ctx.Response.Header.SetContentLength(int(r.length))
		ctx.Response.SkipBody = true
		return true
	}
	var part io.Reader
	switch rf := f.(type) {
	case io.ReaderAt:
		part = io.NewSectionReader(rf, r.start, r.length)
	case io.Seeker:
		if _, err := rf.Seek(r.start, io.SeekStart); err != nil {
			f.Close()
			ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
			return true
		}
		part = io.LimitReader(f, r.length)
	default:
		if _, err := io.CopyN(io.Discard, f, r.start); err != nil {
			f.Close()
			ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
			return true
		}
		part = io.LimitReader(f, r.length)
	}
	ctx.SetBodyStream(&sectionBody{Reader: part, f: f}, int(r.length))
	return true
}
