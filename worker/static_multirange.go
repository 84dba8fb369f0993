package worker

import (
	"bytes"
	"io"
	"io/fs"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Several satisfiable ranges of a file are answered 206 with a
// multipart/byteranges body (RFC 9110 14.6): for each range, in the order
// asked, a delimiter, the file's Content-Type and the part's
// Content-Range, then its bytes; a closing delimiter last. A file that
// cannot be read at an offset (an fs.File that is no io.ReaderAt) is
// answered whole instead.

// rangeBoundaries numbers the multipart boundaries of a process: 20
// digits of a counter, as nginx numbers its own. A file could hold the
// same delimiter line only by chance, and the parts' lengths are in their
// Content-Range headers.
var rangeBoundaries atomic.Uint64

// rangeParts is the layout of one multipart/byteranges answer.
type rangeParts struct {
	ctype  []byte   // the response's Content-Type, with its boundary
	heads  [][]byte // what goes before each part
	tail   []byte   // the closing delimiter
	length int64    // the whole body's
}

// layoutMultipart lays out the parts rs of a file of size bytes whose
// Content-Type is partType.
func layoutMultipart(rs []byteRange, size int64, partType []byte) rangeParts {
	var nb [20]byte
	num := strconv.AppendUint(nb[:0], rangeBoundaries.Add(1), 10)
	boundary := append(bytes.Repeat([]byte{'0'}, 20-len(num)), num...)
	m := rangeParts{
		ctype: append([]byte("multipart/byteranges; boundary="), boundary...),
		heads: make([][]byte, len(rs)),
	}
	for i, r := range rs {
		h := make([]byte, 0, 64+len(boundary)+len(partType))
		h = append(h, "\r\n--"...) // the first one too, as nginx writes it
		h = append(h, boundary...)
		if len(partType) > 0 {
			h = append(h, "\r\nContent-Type: "...)
			h = append(h, partType...)
		}
		h = append(h, "\r\nContent-Range: bytes "...)
		h = strconv.AppendInt(h, r.start, 10)
		h = append(h, '-')
		h = strconv.AppendInt(h, r.start+r.length-1, 10)
		h = append(h, '/')
		h = strconv.AppendInt(h, size, 10)
		h = append(h, "\r\n\r\n"...)
		m.heads[i] = h
		m.length += int64(len(h)) + r.length
	}
	m.tail = append(append([]byte("\r\n--"), boundary...), "--\r\n"...)
	m.length += int64(len(m.tail))
	return m
}

// setMultipart makes the answer 206 with m's Content-Type; true when
// the request is HEAD and the answer is complete.
func setMultipart(ctx *fasthttp.RequestCtx, m rangeParts) (head bool) {
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
	ctx.Response.Header.SetContentTypeBytes(m.ctype)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(int(m.length))
		ctx.Response.SkipBody = true
		return true
	}
	return false
}

// serveMultiRange answers the ranges rs of f (size bytes) as multipart,
// if f can be read at offsets (true); f is then closed or handed to the
// response.
func serveMultiRange(ctx *fasthttp.RequestCtx, f fs.File, rs []byteRange, size int64) bool {
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return false
	}
	m := layoutMultipart(rs, size, ctx.Response.Header.ContentType())
	if setMultipart(ctx, m) {
		f.Close()
		return true
	}
	parts := make([]io.Reader, 0, 2*len(rs)+1)
	for i, r := range rs {
		parts = append(parts, bytes.NewReader(m.heads[i]), io.NewSectionReader(ra, r.start, r.length))
	}
	parts = append(parts, bytes.NewReader(m.tail))
	ctx.SetBodyStream(&sectionBody{Reader: io.MultiReader(parts...), f: f}, int(m.length))
	return true
}

// multipartBody answers the ranges rs of body, a small file in memory.
func multipartBody(ctx *fasthttp.RequestCtx, body []byte, rs []byteRange) {
	m := layoutMultipart(rs, int64(len(body)), ctx.Response.Header.ContentType())
	if setMultipart(ctx, m) {
		return
	}
	out := make([]byte, 0, m.length)
	for i, r := range rs {
		out = append(out, m.heads[i]...)
		out = append(out, body[r.start:r.start+r.length]...)
	}
	out = append(out, m.tail...)
	ctx.Response.SetBodyRaw(out)
}
