package worker

import (
	"bytes"
	"io/fs"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Precompressed files: a file served from a VirtualFS whose sibling
// file.br, file.zst or file.gz exists (a regular file) is answered with
// that sibling, Content-Encoding br, zstd or gzip, when the request's
// Accept-Encoding accepts it, in that order of preference, as nginx's
// gzip_static and brotli_static do; the answer says Vary: Accept-Encoding,
// its Content-Type is the file's, and its validators and ranges are the
// sibling's (another representation, another ETag). A host switches it
// off with HostConfig.NoPrecompressed.

// precompressed are the siblings looked for, best first.
var precompressed = [...]struct{ coding, ext string }{
	{"br", ".br"},
	{"zstd", ".zst"},
	{"gzip", ".gz"},
}

// precompressedSibling finds the sibling of name to serve for ctx's
// Accept-Encoding: its name, coding and FileInfo; ok false for none.
func precompressedSibling(ctx *fasthttp.RequestCtx, fsys fs.FS, name string, stats *statCache) (sibling, coding string, info fs.FileInfo, ok bool) {
	ae := ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding)
	if len(ae) == 0 {
		return "", "", nil, false
	}
	for _, p := range precompressed {
		if !acceptsEncoding(ae, p.coding) {
			continue
		}
		sib := name + p.ext
		if info, err := stats.stat(fsys, sib); err == nil && info.Mode().IsRegular() {
			return sib, p.coding, info, true
		}
	}
	return "", "", nil, false
}

// acceptsEncoding reports whether an Accept-Encoding value accepts coding:
// named with a q-value above 0, or not named and "*" is accepted (RFC 9110
// 12.5.3).
func acceptsEncoding(ae []byte, coding string) bool {
	star := false
	for item := range bytes.SplitSeq(ae, []byte(",")) {
		name, params, _ := bytes.Cut(bytes.TrimSpace(item), []byte(";"))
		name = bytes.TrimSpace(name)
		q := qValue(params)
		switch {
		case bytes.EqualFold(name, []byte(coding)):
			return q > 0
		case string(name) == "*":
			star = q > 0
		}
	}
	return star
}

// qValue reads "q=0.5" among a coding's parameters; 1 without one, 0 for
// a malformed one.
func qValue(params []byte) float64 {
	for p := range bytes.SplitSeq(params, []byte(";")) {
		k, v, found := bytes.Cut(bytes.TrimSpace(p), []byte("="))
		if !found || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		q, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		if err != nil || q < 0 || q > 1 {
			return 0
		}
		return q
	}
	return 1
}
