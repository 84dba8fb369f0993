package worker

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Validators and conditional requests for static files (RFC 9110 13), as
// nginx answers them. A file's validators are a strong ETag made of its
// modification time and size, "<mtime in ns, hex>-<size, hex>", and its
// Last-Modified; a file without a modification time (an embed.FS) has no
// ETag and no Last-Modified, and is never 304 or 412. The preconditions
// are evaluated in 13.2.2's order: If-Match, else If-Unmodified-Since (412
// when they fail); then If-None-Match, else If-Modified-Since (304 for GET
// and HEAD); a Range is honoured only if If-Range, when sent, still names
// the file (static_range.go).

// appendETag appends info's strong entity tag, quotes included.
func appendETag(dst []byte, info fs.FileInfo) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, info.ModTime().UnixNano(), 16)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, info.Size(), 16)
	return append(dst, '"')
}

// fileValidators sets ETag and Last-Modified on the response, and returns
// the ETag (nil when the file has no modification time).
func fileValidators(ctx *fasthttp.RequestCtx, info fs.FileInfo) []byte {
	mod := info.ModTime()
	if mod.IsZero() {
		return nil
	}
	var buf [48]byte
	ctx.Response.Header.SetBytesV(fasthttp.HeaderETag, appendETag(buf[:0], info))
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLastModified, fasthttp.AppendHTTPDate(buf[:0], mod))
	return ctx.Response.Header.Peek(fasthttp.HeaderETag)
}

// preconditions answers a request whose preconditions decide it: 412 or
// 304 (true), or lets it be served (false). etag is the file's, nil if it
// has none.
func preconditions(ctx *fasthttp.RequestCtx, etag []byte, mod time.Time) bool {
	if etag == nil {
		return false
	}
	h := &ctx.Request.Header
	if im := h.Peek(fasthttp.HeaderIfMatch); len(im) > 0 {
		if !matchETag(im, etag, true) {
			preconditionFailed(ctx)
			return true
		}
	} else if ius := h.Peek(fasthttp.HeaderIfUnmodifiedSince); len(ius) > 0 {
		if t, err := http.ParseTime(string(ius)); err == nil && mod.Truncate(time.Second).After(t) {
			preconditionFailed(ctx)
			return true
		}
	}
	read := ctx.IsGet() || ctx.IsHead()
	if inm := h.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 {
		if matchETag(inm, etag, false) {
			if read {
				ctx.SetStatusCode(fasthttp.StatusNotModified)
			} else {
				preconditionFailed(ctx)
			}
			return true
		}
	} else if ims := h.Peek(fasthttp.HeaderIfModifiedSince); len(ims) > 0 && read {
		if t, err := http.ParseTime(string(ims)); err == nil && !mod.Truncate(time.Second).After(t) {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return true
		}
	}
	return false
}

func preconditionFailed(ctx *fasthttp.RequestCtx) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(fasthttp.StatusPreconditionFailed)
	ctx.SetBodyString("Precondition Failed")
}

// matchETag reports whether a list of entity tags (If-Match, If-None-Match)
// names etag, or is "*"; strong comparison refuses weak tags (W/"...").
func matchETag(list, etag []byte, strong bool) bool {
	list = bytes.TrimSpace(list)
	if string(list) == "*" {
		return true
	}
	for len(list) > 0 {
		list = bytes.TrimLeft(list, " \t,")
		weak := false
		if bytes.HasPrefix(list, []byte("W/")) {
			weak, list = true, list[2:]
		}
		if len(list) == 0 || list[0] != '"' {
			return false // not an entity tag: the list is malformed
		}
		end := bytes.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		tag := list[:end+2]
		list = list[end+2:]
		if (!weak || !strong) && bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}

// rangeStillValid reports whether If-Range, when sent, still names the
// file: a strong ETag that matches, or exactly its Last-Modified.
func rangeStillValid(ctx *fasthttp.RequestCtx, etag []byte, mod time.Time) bool {
	ir := ctx.Request.Header.Peek("If-Range")
	if len(ir) == 0 {
		return true
	}
	if etag == nil {
		return false
	}
	if ir[0] == '"' {
		return bytes.Equal(ir, etag)
	}
	t, err := http.ParseTime(string(ir))
	return err == nil && t.Equal(mod.Truncate(time.Second))
}

// sectionBody is a part of a file as a response body; fasthttp closes it.
type sectionBody struct {
	io.Reader
	f fs.File
}

func (b *sectionBody) Close() error { return b.f.Close() }
