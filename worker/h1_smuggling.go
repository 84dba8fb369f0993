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
//   - a Transfer-Encoding with a Content-Length (fasthttp drops the
//     Content-Length; a proxy before it may have framed by it), or one
//     that is not chunked ("identity", which fasthttp ignores: RFC 9112
//     §6.1 wants a 400 for any coding the server does not know);
//   - a header line folded onto the next (obs-fold): fasthttp unfolds it,
//     a server that does not would read a Transfer-Encoding, a
//     Content-Length or a Host another way (RFC 9112 §5.2 allows the
//     400; nginx refuses every fold too);
//   - a Host, or an absolute-form target, with userinfo ("user@host"): some parsers take what follows
//     the @, some what precedes it;
//   - an absolute-form request target whose authority is not the Host
//     header: routing follows the URI, a proxy in front may have followed
//     the Host.
//
// Duplicate Content-Length and Host headers and bad chunk sizes fasthttp
// refuses itself. The checks cost a byte search per header line and one
// over the Host on the common path.
func (b *binding) admitHead(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	host := h.Host()
	bad := bytes.IndexByte(host, '@') >= 0
	if !bad {
		fold, cl, te := scanRawHeaders(h.RawHeaders())
		bad = fold || te && (cl || h.ContentLength() != -1)
	}
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
	b.refuse(ctx, errAmbiguousRequest)
	// After refuse: its ctx.Error resets the response, and with it a
	// Connection: close set before.
	ctx.SetConnectionClose()
	return false
}

// scanRawHeaders reads raw, a request's header lines as they came, for
// what fasthttp's parsed header no longer shows: a line folded onto the
// one before it, and whether a Content-Length and a Transfer-Encoding
// field are there (in any case).
func scanRawHeaders(raw []byte) (fold, cl, te bool) {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case ' ', '\t':
			fold = true
		case 'c', 'C':
			cl = cl || hasFieldName(line, "content-length")
		case 't', 'T':
			te = te || hasFieldName(line, "transfer-encoding")
		}
	}
	return fold, cl, te
}

// hasFieldName reports whether line is a field named name (lower case),
// in any case.
func hasFieldName(line []byte, name string) bool {
	return len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name))
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
