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

	"github.com/valyala/fasthttp"
)

// fileOpts are a host's switches for its files.
type fileOpts struct {
	dotfiles        bool           // HostConfig.ServeDotfiles
	noPrecompressed bool           // HostConfig.NoPrecompressed
	compress        *compressCache // nil: HostConfig.NoCompression
	stats           *statCache     // the files' stats, briefly kept
	small           *smallCache    // small files' contents (static_small.go)
	files           *fdCache       // big files kept open (static_fdcache.go)
}

// fileAnswer is what serveFile did with a request.
type fileAnswer uint8

const (
	// fileAbsent: the path names nothing that is served; the caller
	// answers 404.
	fileAbsent fileAnswer = iota
	// fileServed: answered, with the file, a redirect, 304 or 400.
	fileServed
	// fileWrongMethod: the path names a file, but the method is neither
	// GET nor HEAD; the caller answers 405 with fileAllow.
	fileWrongMethod
)

// fileAllow is the Allow header of a static file.
const fileAllow = "GET, HEAD"

// serveFile answers a request from fsys. Paths are served only from inside
// fsys: fasthttp has already decoded and cleaned ctx.Path(), and
// fs.ValidPath refuses whatever is left that could climb out ("..", empty
// elements); NUL and backslashes get 400. Unless dotfiles is set, a path
// with an element that begins with "." names nothing (see dotfile).
//
// Only regular files are served, and each is known to be one by fs.Stat
// before it is opened: open(2) of a FIFO blocks until a writer comes, and
// a socket or a device is not a page. A directory serves its index.html,
// under the same rule; a file named as a directory ("/a.txt/") is nothing,
// as in nginx.
func serveFile(ctx *fasthttp.RequestCtx, fsys fs.FS, opts fileOpts) fileAnswer {
	raw := ctx.Path()
	if bytes.IndexByte(raw, 0) >= 0 || bytes.IndexByte(raw, '\\') >= 0 {
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return fileServed
	}
	urlPath := string(raw)
	name := strings.TrimPrefix(path.Clean(urlPath), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return fileServed
	}
	if !opts.dotfiles && dotfile(name) {
		return fileAbsent
	}
	info, err := opts.stats.stat(fsys, name)
	if err != nil {
		return fileAbsent
	}
	read := ctx.IsGet() || ctx.IsHead()
	asDir := strings.HasSuffix(urlPath, "/")
	switch {
	case info.IsDir():
		if read && !asDir {
			// A relative Location, as net/http's FileServer sends: an
			// absolute one would name the scheme and port this server
			// sees, which are wrong behind a TLS-terminating proxy.
			loc := url.URL{Path: "/" + strings.TrimLeft(urlPath, "/") + "/", RawQuery: string(ctx.URI().QueryString())}
			ctx.Response.Header.Set(fasthttp.HeaderLocation, loc.String())
			ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
			return fileServed
		}
		name = path.Join(name, "index.html")
		if info, err = opts.stats.stat(fsys, name); err != nil {
			return fileAbsent
		}
	case asDir:
		return fileAbsent
	}
	if !info.Mode().IsRegular() {
		return fileAbsent
	}
	if !read {
		return fileWrongMethod
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	sibling := false
	if !opts.noPrecompressed {
		if sib, coding, sinfo, ok := precompressedSibling(ctx, fsys, name, opts.stats); ok {
			name, info, sibling = sib, sinfo, true
			ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, coding)
			ctx.Response.Header.Set(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
			if ctype == "" {
				ctype = "application/octet-stream" // compressed bytes cannot be sniffed
			}
		}
	}
	var coding string // compressed here (static_compress.go)
	if opts.compress != nil && !sibling && compressible(ctype) && info.Size() >= compressMin && info.Size() <= compressMax {
		ctx.Response.Header.Set(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
		coding = compressCoding(ctx)
	}
	etag := fileValidators(ctx, info)
	if coding != "" && etag != nil {
		ctx.Response.Header.SetBytesV(fasthttp.HeaderETag, compressedETag(etag, coding))
		etag = ctx.Response.Header.Peek(fasthttp.HeaderETag)
	}
	if preconditions(ctx, etag, info.ModTime()) {
		return fileServed
	}
	if opts.small != nil && coding == "" && info.Size() <= smallFileMax {
		if sf := opts.small.get(fsys, name, info); sf != nil {
			serveSmall(ctx, sf, ctype, rangeStillValid(ctx, etag, info.ModTime()))
			return fileServed
		}
	}
	f, err := opts.files.open(fsys, name, info)
	if errors.Is(err, errNotKept) {
		f, err = fsys.Open(name)
	}
	if err != nil {
		return fileAbsent
	}
	// The file may have changed since fs.Stat; what is served is what was
	// opened, if it is still a regular file.
	if info, err = f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return fileAbsent
	}
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
			return fileServed
		}
	}
	ctx.SetContentType(ctype)
	if coding != "" {
		serveCompressed(ctx, opts.compress, f, name, coding, info)
		return fileServed
	}
	ctx.Response.Header.Set(fasthttp.HeaderAcceptRanges, "bytes")
	if rangeStillValid(ctx, etag, info.ModTime()) && serveRange(ctx, f, info.Size()) {
		return fileServed
	}
	if ctx.IsHead() {
		f.Close()
		ctx.Response.Header.SetContentLength(int(info.Size()))
		ctx.Response.SkipBody = true
		return fileServed
	}
	ctx.SetBodyStream(f, int(info.Size())) // fasthttp closes f
	return fileServed
}

// dotfile reports whether name, a valid fs path, has an element that
// begins with ".": .env, .git/config, sub/.htpasswd. ".well-known" is not
// one (RFC 8615: ACME challenges, security.txt), nor "." alone, the root.
func dotfile(name string) bool {
	if name == "." {
		return false
	}
	for name != "" {
		var elem string
		elem, name, _ = strings.Cut(name, "/")
		if elem[0] == '.' && elem != ".well-known" {
			return true
		}
	}
	return false
}

func sniff(f fs.File) string {
	var buf [512]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "application/octet-stream"
	}
	return http.DetectContentType(buf[:n])
}
