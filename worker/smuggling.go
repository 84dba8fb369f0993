package worker

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"
)

// errAmbiguousRequest is a request head that two HTTP parsers could read
// two ways, which is how requests are smuggled past a front server.
var errAmbiguousRequest = errors.New("worker: ambiguous request head")

// admitHead refuses with 400, and closes the connection, the request heads
// that fasthttp accepts but a server in front of or behind Rockstar might
// read otherwise:
//
//   - a chunked body that also has a Content-Length (fasthttp drops the
//     Content-Length; a proxy before it may have framed by it);
//   - a Host, or an absolute-form target, with userinfo ("user@host"): some parsers take what follows
//     the @, some what precedes it;
//   - an absolute-form request target whose authority is not the Host
//     header: routing follows the URI, a proxy in front may have followed
//     the Host.
//
// Duplicate Content-Length and Host headers and bad chunk sizes fasthttp
// refuses itself. The checks cost a byte search on the common path.
func (b *binding) admitHead(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	host := h.Host()
	bad := bytes.IndexByte(host, '@') >= 0 ||
		(h.ContentLength() == -1 && hasRawHeader(h.RawHeaders(), "content-length"))
	if uri := h.RequestURI(); !bad && len(uri) > 0 && uri[0] != '/' && uri[0] != '*' {
		bad = len(host) > 0 && !bytes.EqualFold(ctx.URI().Host(), host) ||
			bytes.IndexByte(authority(uri), '@') >= 0
	}
	if !bad {
		return true
	}
	// Counted and logged under no host: the request names none reliably.
	h.SetHost("")
	ctx.URI().SetHost("")
	ctx.SetConnectionClose()
	b.refuse(ctx, errAmbiguousRequest)
	return false
}

// hasRawHeader reports whether raw, a request's header lines, has a field
// named name (lower case), in any case.
func hasRawHeader(raw []byte, name string) bool {
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name)) {
			return true
		}
	}
	return false
}

// authority is the authority of an absolute-form request target.
func authority(uri []byte) []byte {
	if i := bytes.Index(uri, []byte("://")); i >= 0 {
		uri = uri[i+3:]
	}
	if i := bytes.IndexAny(uri, "/?#"); i >= 0 {
		uri = uri[:i]
	}
	return uri
}
