package proxy

import "github.com/valyala/fasthttp"

// Cache is where a response cache plugs into a proxy (Config.Cache). A
// proxy without one (the default) pays a nil check per request and
// nothing else.
//
// For each request that is not a WebSocket upgrade, Serve comes first: a
// cache that answers ctx itself returns true, and no upstream is asked.
// Otherwise the request goes upstream, and once an upstream's answer is
// in ctx.Response (its headers forwarded, before it is written to the
// client) it is offered to Offer. A small body is whole there
// (ctx.Response.Body()); a large one, or one of unknown length, is still
// a stream (ctx.Response.BodyStream()) that the cache may wrap to keep a
// copy as it is written, but must not read here. Answers the proxy makes
// itself (502, 503, 504) are not offered. Both run on the request's
// goroutine, concurrently for many requests.
type Cache interface {
	Serve(ctx *fasthttp.RequestCtx) bool
	Offer(ctx *fasthttp.RequestCtx)
}
