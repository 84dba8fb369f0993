package worker

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// serveFile answers a GET or HEAD from fsys and reports whether it did. It
// reports false when the path names nothing in fsys, so the caller can go on
// to its 404. Paths are served only from inside fsys: fasthttp has already
// decoded and cleaned ctx.Path(), and fs.ValidPath refuses whatever is left
// that could climb out ("..", empty elements); NUL and backslashes get 400.
func serveFile(ctx *fasthttp.RequestCtx, fsys fs.FS) bool {
	if !ctx.IsGet() && !ctx.IsHead() {
		return false
	}
	raw := ctx.Path()
	if bytes.IndexByte(raw, 0) >= 0 || bytes.IndexByte(raw, '\\') >= 0 {
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return true
	}
	urlPath := string(raw)
	name := strings.TrimPrefix(path.Clean(urlPath), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return true
	}
	f, err := fsys.Open(name)
	if err != nil {
		return false
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	if info.IsDir() {
		f.Close()
		if !strings.HasSuffix(urlPath, "/") {
			// A relative Location, as net/http's FileServer sends: an
			// absolute one would name the scheme and port this server
			// sees, which are wrong behind a TLS-terminating proxy.
			loc := url.URL{Path: "/" + strings.TrimLeft(urlPath, "/") + "/", RawQuery: string(ctx.URI().QueryString())}
			ctx.Response.Header.Set(fasthttp.HeaderLocation, loc.String())
			ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
			return true
		}
		name = path.Join(name, "index.html")
		if f, err = fsys.Open(name); err != nil {
			return false
		}
		if info, err = f.Stat(); err != nil || info.IsDir() {
			f.Close()
			return false
		}
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return false
	}
	if notModified(ctx, info.ModTime()) {
		f.Close()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return true
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = sniff(f)
		// Rewind for the body: seek when the file can, else open it again.
		if rs, ok := f.(io.Seeker); ok {
			_, err = rs.Seek(0, io.SeekStart)
		} else {
			f.Close()
			f, err = fsys.Open(name)
		}
		if err != nil {
			ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
			return true
		}
	}
	ctx.SetContentType(ctype)
	if !info.ModTime().IsZero() {
		ctx.Response.Header.Set(fasthttp.HeaderLastModified, info.ModTime().UTC().Format(http.TimeFormat))
	}
	if ctx.IsHead() {
		f.Close()
		ctx.Response.Header.SetContentLength(int(info.Size()))
		ctx.Response.SkipBody = true
		return true
	}
	ctx.SetBodyStream(f, int(info.Size())) // fasthttp closes f
	return true
}

func sniff(f fs.File) string {
	var buf [512]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "application/octet-stream"
	}
	return http.DetectContentType(buf[:n])
}

func notModified(ctx *fasthttp.RequestCtx, mod time.Time) bool {
	ims := ctx.Request.Header.Peek(fasthttp.HeaderIfModifiedSince)
	if len(ims) == 0 || mod.IsZero() {
		return false
	}
	t, err := http.ParseTime(string(ims))
	return err == nil && !mod.Truncate(time.Second).After(t)
}
