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
// one with several satisfiable ranges gets 206 multipart/byteranges, the
// parts in the order asked (static_multirange.go); one with no
// satisfiable range gets 416 with Content-Range: bytes */size, and so does
// a bytes Range that is malformed ("bytes=9-1", "bytes=x"), which RFC
// 9110 14.2 lets a server ignore or reject and nginx rejects. A Range of
// another unit, one of more than maxRanges ranges, or one whose ranges add
// up to more than the file (14.2's defence against overlapping ranges, as
// nginx does) is ignored: the whole file, 200.

// maxRanges bounds the ranges of one request.
const maxRanges = 64

// byteRange is one satisfiable range of a file: [start, start+length).
type byteRange struct{ start, length int64 }

// parseRanges reads a Range header against a file of size bytes,
// appending its satisfiable ranges to dst. ok is false when the header is
// to be ignored; ok with no range means 416: none is satisfiable, or the
// header is malformed.
func parseRanges(h []byte, size int64, dst []byteRange) (rs []byteRange, ok bool) {
	spec, found := bytes.CutPrefix(bytes.TrimSpace(h), []byte("bytes="))
	if !found {
		return dst, false
	}
	rs = dst
	var total int64
	specs := 0
	for len(spec) > 0 {
		var one []byte
		one, spec, _ = bytes.Cut(spec, []byte(","))
		if one = bytes.TrimSpace(one); len(one) == 0 {
			continue // an empty list element (RFC 9110 5.6.1)
		}
		if specs++; specs > maxRanges {
			return dst, false
		}
		r, valid, satisfiable := parseRange(one, size)
		if !valid {
			return dst, true
		}
		if satisfiable {
			rs = append(rs, r)
			total += r.length
		}
	}
	if total > size {
		return dst, false
	}
	return rs, true
}

// parseRange reads one range-spec against a file of size bytes. ok is
// false when it is malformed; satisfiable is false when it names nothing
// of the file.
func parseRange(spec []byte, size int64) (r byteRange, ok, satisfiable bool) {
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
	ctx.SetContentType("text/plain; charset=utf-8") // not the file's: its body is no part of it
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
	var buf [4]byteRange
	rs, ok := parseRanges(h, size, buf[:0])
	if !ok {
		return false
	}
	switch {
	case len(rs) == 0:
		f.Close()
		rangeNotSatisfiable(ctx, size)
		return true
	case len(rs) > 1:
		return serveMultiRange(ctx, f, rs, size)
	}
	r := rs[0]
	setContentRange(ctx, r, size)
	if ctx.IsHead() {
		f.Close()
		ctx.Response.Header.SetContentLength(int(r.length))
		ctx.Response.SkipBody = true
		return true
	}
	part, err := section(f, r)
	if err != nil {
		f.Close()
		ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
		return true
	}
	ctx.SetBodyStream(&sectionBody{Reader: part, f: f}, int(r.length))
	return true
}

// section is r of f, read from where f is now if f cannot read at an
// offset (then only one section of f may be read, and in order).
func section(f fs.File, r byteRange) (io.Reader, error) {
	switch rf := f.(type) {
	case io.ReaderAt:
		return io.NewSectionReader(rf, r.start, r.length), nil
	case io.Seeker:
		if _, err := rf.Seek(r.start, io.SeekStart); err != nil {
			return nil, err
		}
	default:
		if _, err := io.CopyN(io.Discard, f, r.start); err != nil {
			return nil, err
		}
	}
	return io.LimitReader(f, r.length), nil
}
