package worker

import (
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// hostState is everything one request for one host needs, resolved when the
// configuration changes so that the request path only follows pointers:
// the host's limiters, its metrics cell, and its handler already wrapped in
// its middleware.
type hostState struct {
	// What every request reads comes first, to share its cache lines.
	cell        *cell
	hostLim     Limiter
	tenantLim   Limiter
	hostKeyed   KeyedLimiter // per-client limits; nil if none
	tenantKeyed KeyedLimiter
	hostV6      uint8 // bytes of an IPv6 address that key hostKeyed
	tenantV6    uint8
	handler     fasthttp.RequestHandler // middleware around core
	access      *accessLog              // nil: no access log
	routes      *Router                 // may be nil
	headers     []headerKV
	real        *realIP // the binding's trusted proxies; nil: none

	name, tenant string
	files        fs.FS       // may be nil
	fileOpts     fileOpts    // HostConfig.ServeDotfiles, NoPrecompressed
	cache        []cacheRule // HostConfig.CacheControl, in matching order
	fallback     string      // HostConfig.Fallback
	errLog       *zerolog.Logger
	streamBody   bool // HostConfig.StreamRequestBody
	discardBody  bool // HostConfig.DiscardRequestBody, or nothing of the host reads bodies
	inline       bool // HostConfig.Inline: the event loop may serve it
	// answer is HostConfig.InlineAnswer: what the event loop may answer
	// of a host that is not inline.
	answer func(*fasthttp.RequestCtx) bool
}

type headerKV struct{ k, v string }

// dispatch maps a Host header to its hostState. It is immutable; a binding
// publishes a new one on every configuration change.
type dispatch struct {
	hosts  hostMap[*hostState]
	def    *hostState // no host matched: the root router's routes
	inline bool       // some host is inline: the event loop serves requests
}

func (d *dispatch) lookup(host []byte) *hostState {
	if hs, ok := d.hosts.lookup(host); ok {
		return hs
	}
	return d.def
}

// serve is the whole per-request path after the host is known: limits,
// middleware and handler, security headers, metrics and the access log.
func (h *hostState) serve(ctx *fasthttp.RequestCtx) { h.serveWith(ctx, false) }

// serveAnswer serves ctx with the host's InlineAnswer in place of its
// middleware and handler, if that answers it; false when it did not, and
// nothing was counted.
func (h *hostState) serveAnswer(ctx *fasthttp.RequestCtx) bool { return h.serveWith(ctx, true) }

func (h *hostState) serveWith(ctx *fasthttp.RequestCtx, answer bool) bool {
	if h.real != nil {
		h.real.apply(ctx) // the client behind trusted proxies, for all that follows
	}
	if answer && !h.answer(ctx) {
		return false
	}
	c := h.cell
	c.begin()
	clock := startClock(ctx)
	if h.access != nil {
		h.access.requestID(ctx)
	}
	switch admitted := h.admit(ctx, clock.start); {
	case admitted && answer:
		h.setHeaders(ctx)
	case admitted:
		h.run(ctx)
	}
	up, proxied := takeUpstreamTime(ctx)
	if h.access != nil {
		echoID(ctx)
	}
	status := ctx.Response.StatusCode()
	in := len(ctx.Request.Header.RawHeaders()) + requestBodyLen(&ctx.Request)
	var out int
	if ctx.Response.IsBodyStream() {
		out = max(ctx.Response.Header.ContentLength(), 0)
	} else {
		out = len(ctx.Response.Body())
	}
	d := clock.took()
	c.end(status, in, out, d)
	if h.access != nil {
		h.access.log(ctx, &accessEntry{status: status, out: out, took: d, upstream: up, proxied: proxied, host: h.name, tenant: h.tenant})
	}
	return true
}

// admit applies the host's limits, then the tenant's; a refusal answers 429.
func (h *hostState) admit(ctx *fasthttp.RequestCtx, now time.Time) bool {
	if h.hostLim != nil {
		if ok, wait := h.hostLim.Allow(now); !ok {
			h.refuse(ctx, wait)
			return false
		}
	}
	if h.hostKeyed != nil && !h.allowKeyed(h.hostKeyed, h.hostV6, ctx, now) {
		return false
	}
	if h.tenantLim != nil {
		if ok, wait := h.tenantLim.Allow(now); !ok {
			h.refuse(ctx, wait)
			return false
		}
	}
	if h.tenantKeyed != nil && !h.allowKeyed(h.tenantKeyed, h.tenantV6, ctx, now) {
		return false
	}
	return true
}

func (h *hostState) refuse(ctx *fasthttp.RequestCtx, wait time.Duration) {
	h.cell.limited.Add(1)
	ctx.Error("Too Many Requests", fasthttp.StatusTooManyRequests)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(wait)))
}

// run calls the handler; a panic becomes a 500 and a log line instead of
// the end of the process.
func (h *hostState) run(ctx *fasthttp.RequestCtx) {
	defer func() {
		if p := recover(); p != nil {
			h.errLog.Error().Str("host", h.name).Bytes("path", ctx.Path()).
				Str("panic", fmt.Sprint(p)).Msg("handler panicked")
			ctx.Response.Reset()
			ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
		}
	}()
	h.handler(ctx)
	h.setHeaders(ctx)
}

// setHeaders sets the host's headers the answer does not have.
func (h *hostState) setHeaders(ctx *fasthttp.RequestCtx) {
	for _, kv := range h.headers {
		if len(ctx.Response.Header.Peek(kv.k)) == 0 {
			ctx.Response.Header.Set(kv.k, kv.v)
		}
	}
}

// core serves the host's routes, then its files, then 405 or 404. A
// method that neither a route nor a file has gets 405 with the methods of
// both.
func (h *hostState) core(ctx *fasthttp.RequestCtx) {
	if h.routes != nil && h.routes.serve(ctx) {
		return
	}
	if h.files != nil {
		switch serveFile(ctx, h.files, h.fileOpts) {
		case fileServed:
			if h.cache != nil {
				cacheControl(ctx, h.cache)
			}
			return
		case fileWrongMethod:
			allow := fileAllow
			if h.routes != nil {
				allow = addAllow(allow, h.routes.allowed(b2s(ctx.Path())))
			}
			methodNotAllowed(ctx, allow)
			return
		case fileAbsent:
			if h.serveFallback(ctx) {
				return
			}
		}
	}
	if h.routes != nil {
		h.routes.notFound(ctx)
		return
	}
	ctx.Error(fasthttp.StatusMessage(fasthttp.StatusNotFound), fasthttp.StatusNotFound)
}

// wrap applies middleware around h; mw[0] ends up outermost.
func wrap(h fasthttp.RequestHandler, mw []MiddlewareFunc) fasthttp.RequestHandler {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			h = mw[i](h)
		}
	}
	return h
}
