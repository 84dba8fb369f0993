package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// viaValue is what the proxy adds to Via, both ways.
const viaValue = "1.1 rockstar"

// bufferLimit: a response body of known length up to this size is read
// whole before the response is sent, so that the upstream connection goes
// back to the pool at once and a broken body can still be retried; larger
// or unknown-length bodies stream.
const bufferLimit = 64 << 10

// proxyCall is the state of one proxied request, pooled.
type proxyCall struct {
	req   fasthttp.Request
	body  countingBody
	tried [8]*upstream
}

var callPool = sync.Pool{New: func() any { return new(proxyCall) }}

// countingBody passes the client's request body to the upstream and
// counts what it read, so that a failed try knows whether the body is
// spent; it keeps the client's own failure (a broken chunk, a body over
// MaxRequestSize, a body cut short, a read timeout), so that a try that
// failed because of it is put down to the client, not to the upstream.
type countingBody struct {
	r    io.Reader
	n    int64
	want int64 // the announced length; -1: chunked
	err  error // the client's failure, if any
	eof  bool  // the whole body was read
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == nil:
	case err == io.EOF:
		if b.want >= 0 && b.n < b.want {
			err = io.ErrUnexpectedEOF
			b.err = err
		} else {
			b.eof = true
		}
	default:
		b.err = err
	}
	return n, err
}

// errProxyClient wraps a try that failed because of the client: its
// request body broke. It does not count against the upstream, and the
// request is not retried.
var errProxyClient = errors.New("proxy: the client's request body failed")

// errUpstreamCutBody wraps a connection that broke while the request
// body was being sent: most likely the upstream refused the body (too
// large for it) and closed, which is the client's doing as much as the
// upstream's. It answers 502 but does not count against the upstream,
// nor drop its pooled connections.
var errUpstreamCutBody = errors.New("proxy: the upstream closed the connection during the request body")

// blame wraps err, the failure of a try, with errProxyClient when the
// client's body failed, or errUpstreamCutBody when the connection broke
// while the body was being sent.
func (b *countingBody) blame(err error) error {
	switch {
	case err == nil:
		return nil
	case b.err != nil:
		return fmt.Errorf("%w: %w", errProxyClient, b.err)
	case b.n > 0 && !b.eof && brokenConn(err):
		return fmt.Errorf("%w: %w", errUpstreamCutBody, err)
	}
	return err
}

// errUpstreamSwitched: an upstream answered 101 to a request that did not
// ask to switch protocols (a broken answer: it counts against it).
var errUpstreamSwitched = errors.New("proxy: the upstream switched protocols unasked")

// errUpstreamBusy wraps a connection to an upstream that was not made
// because this process has MaxConnsPerUpstream open to it already
// (tunnels included): nothing was sent, and the upstream is not at fault.
var errUpstreamBusy = errors.New("proxy: every connection to the upstream is in use")

// bufPool holds buffers for whole small response bodies.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufferLimit); return &b }}

// serve is the proxy's request handler.
func (p *Proxy) serve(ctx *fasthttp.RequestCtx) {
	pool := p.pool.Load()
	if ctx.IsGet() && isUpgrade(&ctx.Request.Header) {
		p.serveUpgrade(ctx, pool)
		return
	}
	cache := pool.cfg.Cache
	if cache != nil && cache.Serve(ctx) {
		return
	}
	c := callPool.Get().(*proxyCall)
	defer func() {
		c.req.Reset()
		c.body = countingBody{}
		clear(c.tried[:])
		callPool.Put(c)
	}()
	req := &c.req
	if !forwardRequestHeader(ctx, &req.Header, pool.cfg.Name) {
		ctx.Error("Bad Request: the proxy does not forward this request\n", fasthttp.StatusBadRequest)
		ctx.SetConnectionClose()
		return
	}
	c.body.want = -1
	if ctx.Request.IsBodyStream() {
		if cl := ctx.Request.Header.ContentLength(); cl != 0 {
			c.body.r = ctx.RequestBodyStream()
			c.body.want = int64(cl)
			req.SetBodyStream(&c.body, cl)
		}
	} else if b := ctx.Request.Body(); len(b) > 0 {
		req.SetBodyRaw(b)
	}
	idempotent := isIdempotentMethod(ctx.Method())
	cfg := &pool.cfg
	tried := c.tried[:0]
	var lastErr error
	for {
		u := pool.pick(ctx, tried)
		if u == nil {
			break
		}
		tried = append(tried, u)
		err := p.try(ctx, pool, u, req, idempotent, &c.body)
		if err == nil {
			if cache != nil {
				cache.Offer(ctx)
			}
			return
		}
		lastErr = err
		if !retryable(err, idempotent, c.body.n) || len(tried) > cfg.Retries || len(tried) == len(c.tried) {
			break
		}
	}
	p.fail(ctx, pool, lastErr)
}

// try sends req to u and, when u answers, copies the answer to ctx. An
// error means nothing was written to ctx yet. An idempotent request whose
// body (counted by body) is not spent may be sent to u a second time.
func (p *Proxy) try(ctx *fasthttp.RequestCtx, pool *proxyPool, u *upstream, req *fasthttp.Request, idempotent bool, body *countingBody) error {
	resp := fasthttp.AcquireResponse()
	resp.Header.SetNoDefaultContentType(true)
	u.begin()
	start := time.Now()
	began := start
	defer func() { worker.AddUpstreamTime(ctx, time.Since(began)) }() // upstream_response_time
	err := body.blame(u.hc.Do(req, resp))
	if err != nil && brokenConn(err) {
		// The connection broke before the answer: the upstream closed it
		// (an idle timeout) or went away. If it went away and came back,
		// every connection pooled to it is as dead as this one, so drop
		// them all, and try once more on a new connection before counting
		// an error against it.
		u.hc.CloseIdleConnections()
		if idempotent && body.n == 0 {
			start = time.Now()
			err = body.blame(u.hc.Do(req, resp))
		}
	}
	if err == nil {
		u.cell.observe(time.Since(start))
		err = p.answer(ctx, u, resp)
		if err == nil {
			return nil
		}
	}
	fasthttp.ReleaseResponse(resp)
	u.end()
	u.cell.count(failStatus(err))
	if upstreamFault(err) && u.failed(&pool.cfg, pool.single) {
		p.logState(u, false, "errors")
	}
	return err
}

// answer copies u's response to ctx: a small body whole, a large one as a
// stream that gives the connection back (and ends u's request) when the
// client has it. On an error (a small body that broke) ctx is untouched
// and resp still belongs to the caller.
func (p *Proxy) answer(ctx *fasthttp.RequestCtx, u *upstream, resp *fasthttp.Response) error {
	if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// Not asked for (the request's Upgrade was not forwarded): passed
		// on, it would tell the client its connection has switched; and
		// the upstream's connection speaks another protocol now.
		if rc, ok := resp.BodyStream().(fasthttp.ReadCloserWithError); ok {
			_ = rc.CloseWithError(errUpstreamSwitched)
		}
		return errUpstreamSwitched
	}
	stream := resp.BodyStream()
	cl := resp.Header.ContentLength()
	if stream != nil && cl >= 0 && cl <= bufferLimit {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf := (*bp)[:cl]
		if _, err := io.ReadFull(stream, buf); err != nil {
			if rc, ok := stream.(fasthttp.ReadCloserWithError); ok {
				_ = rc.CloseWithError(err)
			}
			return err
		}
		_ = resp.CloseBodyStream()
		stream = nil
		u.succeeded()
		u.cell.count(resp.StatusCode())
		forwardResponseHeader(resp, &ctx.Response)
		ctx.Response.SetBody(buf)
		fasthttp.ReleaseResponse(resp)
		u.end()
		return nil
	}
	u.succeeded()
	u.cell.count(resp.StatusCode())
	forwardResponseHeader(resp, &ctx.Response)
	if stream == nil {
		ctx.Response.SetBody(resp.Body())
		if ctx.IsHead() && cl >= 0 {
			ctx.Response.Header.SetContentLength(cl)
		}
		fasthttp.ReleaseResponse(resp)
		u.end()
		return nil
	}
	if cl < 0 {
		cl = -1
		// An answer of unknown length may trickle (server-sent events):
		// let the client see the headers at once.
		ctx.Response.ImmediateHeaderFlush = true
	}
	ctx.Response.SetBodyStream(&upstreamBody{resp: resp, r: stream, u: u}, cl)
	return nil
}

// upstreamBody streams an upstream's response body to the client; the
// server closes it when the body is written or the write failed, which
// gives the upstream connection back (or drops it) and ends the request
// on the upstream.
type upstreamBody struct {
	resp   *fasthttp.Response
	r      io.Reader
	u      *upstream
	closed bool
}

func (b *upstreamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *upstreamBody) Close() error { return b.CloseWithError(nil) }

// CloseWithError ends the stream; err, the reason the writer stopped,
// makes the upstream connection be dropped rather than drained.
func (b *upstreamBody) CloseWithError(err error) error {
	if b.closed {
		return nil
	}
	b.closed = true
	if rc, ok := b.r.(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(err)
	} else {
		_ = b.resp.CloseBodyStream()
	}
	fasthttp.ReleaseResponse(b.resp)
	b.u.end()
	return nil
}

// fail answers a request that no upstream answered.
func (p *Proxy) fail(ctx *fasthttp.RequestCtx, pool *proxyPool, err error) {
	name := pool.cfg.Name
	var code int
	var msg string
	switch {
	case err == nil:
		code, msg = fasthttp.StatusBadGateway, "Bad Gateway: every upstream of "+name+" is down\n"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, msg = fasthttp.StatusRequestEntityTooLarge, "Request Entity Too Large\n"
	case errors.Is(err, errProxyClient) && isTimeout(err):
		code, msg = fasthttp.StatusRequestTimeout, "Request Timeout\n"
	case errors.Is(err, errProxyClient):
		code, msg = fasthttp.StatusBadRequest, "Bad Request: the request body is malformed or incomplete\n"
	case isTimeout(err):
		code, msg = fasthttp.StatusGatewayTimeout, "Gateway Timeout: the upstream of "+name+
			" did not answer within "+pool.cfg.Timeout.String()+"\n"
	case errors.Is(err, errUpstreamConnect):
		code, msg = fasthttp.StatusBadGateway, "Bad Gateway: cannot connect to any upstream of "+name+"\n"
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, errUpstreamBusy):
		code, msg = fasthttp.StatusBadGateway, "Bad Gateway: every connection to the upstreams of "+name+" is busy\n"
	case errors.Is(err, errUpstreamCutBody):
		code, msg = fasthttp.StatusBadGateway, "Bad Gateway: the upstream of "+name+" closed the connection during the request body\n"
	default:
		code, msg = fasthttp.StatusBadGateway, "Bad Gateway: the upstream of "+name+" failed before answering\n"
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg)
	if errors.Is(err, errProxyClient) || errors.Is(err, errUpstreamCutBody) {
		ctx.SetConnectionClose() // the client may still be sending, or its body is unusable
	}
}

// failStatus is the status a failed try counts as in the metrics: the
// 502 or 504 it would answer, or the 400, 408 or 413 of the client's
// failure.
func failStatus(err error) int {
	if errors.Is(err, errProxyClient) {
		switch {
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			return fasthttp.StatusRequestEntityTooLarge
		case isTimeout(err):
			return fasthttp.StatusRequestTimeout
		}
		return fasthttp.StatusBadRequest
	}
	if isTimeout(err) {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// upstreamFault reports whether a failed try counts against the upstream
// (MaxFails): a connection that could not be made, a timeout waiting for
// it, a connection that broke, a malformed answer. The client's failures,
// a connection that broke during the request body, and this process's
// own connection limit do not.
func upstreamFault(err error) bool {
	return !errors.Is(err, errProxyClient) && !errors.Is(err, errUpstreamCutBody) &&
		!errors.Is(err, errUpstreamBusy) && !errors.Is(err, fasthttp.ErrNoFreeConns)
}

// brokenConn reports whether err is a connection that broke under a
// request (closed, reset), as opposed to one that could not be made, a
// timeout, a local limit, or a failure of the client's.
func brokenConn(err error) bool {
	return upstreamFault(err) && !errors.Is(err, errUpstreamConnect) && !isTimeout(err)
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryable reports whether a request whose try failed with err may go to
// another upstream: if nothing was sent (no connection), or, for an
// idempotent request, if the failure came before the answer began and
// the body is not spent; never after a timeout waiting for the answer.
func retryable(err error, idempotent bool, bodyRead int64) bool {
	if errors.Is(err, errProxyClient) {
		return false
	}
	if errors.Is(err, errUpstreamConnect) || errors.Is(err, errUpstreamBusy) {
		return true
	}
	return idempotent && bodyRead == 0 && !isTimeout(err)
}

func isIdempotentMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodTrace,
		fasthttp.MethodPut, fasthttp.MethodDelete:
		return true
	}
	return false
}
