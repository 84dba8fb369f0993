package worker

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Request bodies stream (fasthttp's StreamRequestBody): the server reads
// the headers and at most a few KB of the body before the handler runs,
// and the handler reads the rest from ctx.RequestBodyStream(), so that a
// proxy passes a 100 MB upload on without holding it. fasthttp then no
// longer refuses a body over MaxRequestBodySize; bodyLimit does, before
// any handler:
//
//   - a Content-Length over MaxRequestSize gets 413 as soon as the head is
//     read, and the connection closes, lingering, as before;
//   - a body of known length within the limit is left to the handler,
//     which reads it on demand (ctx.PostBody reads it whole, as before);
//   - a chunked body is read whole before the handler, up to
//     MaxRequestSize (413 once more has arrived), unless the host streams
//     (HostConfig.StreamRequestBody): then its handler reads it as it
//     comes, and a read past the limit fails with fasthttp.ErrBodyTooLarge;
//     or unless the host never reads bodies (HostConfig.DiscardRequestBody,
//     or a host of files only): then it is read as it comes and dropped,
//     with the same 413, and its handler sees an empty body.
type bodyLimit struct {
	max int64
	// over holds the request headers (a pointer into a RequestCtx) that
	// announced too large a body; n counts them, so that the request path
	// only loads an integer while there are none.
	over sync.Map
	n    atomic.Int64
}

// headerReceived runs when a request's head is read, before fasthttp reads
// any of the body: a Content-Length over the limit is remembered and
// zeroed, so that the server does not wait for a body that admit refuses.
func (l *bodyLimit) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	headerRead(h) // the head watch's end (h1_headwatch.go)
	if int64(h.ContentLength()) > l.max {
		if _, loaded := l.over.LoadOrStore(h, struct{}{}); !loaded {
			l.n.Add(1)
		}
		h.SetContentLength(0)
		h.SetConnectionClose()
	} else if l.n.Load() > 0 {
		l.forget(h) // a stale mark of this RequestCtx's last request
	}
	return fasthttp.RequestConfig{}
}

func (l *bodyLimit) forget(h *fasthttp.RequestHeader) bool {
	if _, ok := l.over.LoadAndDelete(h); ok {
		l.n.Add(-1)
		return true
	}
	return false
}

// admitBody applies MaxRequestSize to a request before its handler (see
// bodyLimit), and reports whether the handler may run.
func (b *binding) admitBody(ctx *fasthttp.RequestCtx, hs *hostState) bool {
	if b.body.n.Load() > 0 && b.body.forget(&ctx.Request.Header) {
		b.refuseBody(ctx, fasthttp.ErrBodyTooLarge)
		return false
	}
	if !ctx.Request.IsBodyStream() {
		return true
	}
	cl := ctx.Request.Header.ContentLength()
	if int64(cl) > b.body.max {
		b.refuseBody(ctx, fasthttp.ErrBodyTooLarge)
		return false
	}
	if cl >= 0 {
		return true
	}
	lim := &limitedBody{r: ctx.RequestBodyStream(), ctx: ctx, left: b.body.max}
	ctx.Request.SetBodyStream(lim, -1)
	if hs.streamBody {
		return true
	}
	if hs.discardBody {
		return b.dropBody(ctx, lim)
	}
	body := ctx.Request.Body()
	if b.refusedBody(ctx, lim) {
		return false
	}
	ctx.Request.Header.SetContentLength(len(body))
	return true
}

// refusedBody answers a chunked body that went over the limit or broke
// off, once it has been read; it reports whether it did.
func (b *binding) refusedBody(ctx *fasthttp.RequestCtx, lim *limitedBody) bool {
	switch {
	case lim.over:
		b.refuseBody(ctx, fasthttp.ErrBodyTooLarge)
	case lim.err != nil:
		b.refuseBody(ctx, lim.err)
	default:
		return false
	}
	return true
}

// dropBody reads a chunked body that its host never reads and keeps
// nothing of it: io.Discard reads through a small pooled buffer. It
// reports whether the handler may run, as admitBody does.
func (b *binding) dropBody(ctx *fasthttp.RequestCtx, lim *limitedBody) bool {
	_, _ = io.Copy(io.Discard, lim)
	if b.refusedBody(ctx, lim) {
		return false
	}
	ctx.Request.SetBodyRaw(nil)
	ctx.Request.Header.SetContentLength(0)
	return true
}

// refuseBody answers a request whose body is refused, and closes its
// connection: the rest of the body is never read.
func (b *binding) refuseBody(ctx *fasthttp.RequestCtx, err error) {
	ctx.Request.SetBodyRaw(nil)
	b.refuse(ctx, err)
	ctx.SetConnectionClose()
}

// limitedBody reads a chunked body and fails once it passes the limit.
// The rest of such a body is never read, so its connection closes after
// the response, and lingers (h1_linger.go): the client, still sending, then
// reads the answer (a 413 from a streaming handler) instead of a reset.
type limitedBody struct {
	r    io.Reader
	ctx  *fasthttp.RequestCtx
	left int64
	over bool
	err  error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.over {
		return 0, fasthttp.ErrBodyTooLarge
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		l.ctx.SetConnectionClose()
		lingerOnClose(l.ctx)
		return n, fasthttp.ErrBodyTooLarge
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// requestBodyLen is the size of a request's body for the metrics, without
// reading a streamed body (of unknown length: 0).
func requestBodyLen(r *fasthttp.Request) int {
	if r.IsBodyStream() {
		return max(r.Header.ContentLength(), 0)
	}
	return len(r.Body())
}

// discardBody reads what a handler left of a streamed request body (at
// most MaxRequestSize, which admitBody enforced), as fasthttp did before
// bodies streamed: otherwise fasthttp closes a connection with more than
// 256 KB unread, and a client still sending its body gets a reset instead
// of the response. Hosts that stream (proxies) are left alone.
func discardBody(ctx *fasthttp.RequestCtx) {
	_, _ = io.Copy(io.Discard, ctx.RequestBodyStream())
}
