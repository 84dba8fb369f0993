package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// maxUpgradeHead bounds an upstream's answer head to an upgrade request.
const maxUpgradeHead = 64 << 10

// maxUpgradeRefusal bounds the body of an upstream's refusal of an upgrade.
const maxUpgradeRefusal = 1 << 20

// errBadUpgradeAnswer: the upstream's answer to an upgrade request is not HTTP.
var errBadUpgradeAnswer = errors.New("proxy: malformed upstream answer to an upgrade")

// isUpgrade reports whether a request asks to switch to WebSocket (the
// proxy tunnels a GET only: another method's Upgrade is hop-by-hop).
func isUpgrade(h *fasthttp.RequestHeader) bool {
	// HTTP/1.1 only: a stream of HTTP/2 or HTTP/3 cannot be hijacked, and
	// its upstream connection would never be joined, nor closed.
	return h.IsHTTP11() && h.ConnectionUpgrade() && bytes.EqualFold(bytes.TrimSpace(h.Peek(fasthttp.HeaderUpgrade)), []byte("websocket"))
}

// serveUpgrade forwards a WebSocket handshake on a connection of its own;
// when the upstream switches protocols, the client's connection is
// hijacked and joined to the upstream's until either side closes.
func (p *Proxy) serveUpgrade(ctx *fasthttp.RequestCtx, pool *proxyPool) {
	var hdr fasthttp.RequestHeader
	// A handshake has no body: one would reach the upstream as the
	// tunnel's first bytes.
	if cl := ctx.Request.Header.ContentLength(); cl > 0 || cl == -1 || !forwardRequestHeader(ctx, &hdr, pool.cfg.Name) {
		ctx.Error("Bad Request: the proxy does not forward this request\n", fasthttp.StatusBadRequest)
		ctx.SetConnectionClose()
		return
	}
	hdr.Set(fasthttp.HeaderConnection, "Upgrade")
	hdr.SetBytesV(fasthttp.HeaderUpgrade, bytes.TrimSpace(ctx.Request.Header.Peek(fasthttp.HeaderUpgrade)))
	head := hdr.Header()
	cfg := &pool.cfg
	var tried [8]*upstream
	var lastErr error
	for n := 0; n <= cfg.Retries && n < len(tried); n++ {
		u := pool.pick(ctx, tried[:n])
		if u == nil {
			break
		}
		tried[n] = u
		err := p.upgradeOn(ctx, pool, u, head)
		if err == nil {
			return
		}
		lastErr = err
		u.cell.count(failStatus(err))
		if upstreamFault(err) && u.failed(cfg, pool.single) {
			p.logState(u, false, "errors")
		}
		if !retryable(err, true, 0) {
			break
		}
	}
	p.fail(ctx, pool, lastErr)
}

// upgradeOn tries the handshake on u. An error means ctx is untouched.
func (p *Proxy) upgradeOn(ctx *fasthttp.RequestCtx, pool *proxyPool, u *upstream, head []byte) error {
	cfg := &pool.cfg
	conn, err := u.dial()
	if errors.Is(err, errUpstreamBusy) && u.hc.ConnsCount() > 0 {
		// The pooled connections count too: give up the idle ones for
		// the tunnel, which needs a connection of its own.
		u.hc.CloseIdleConnections()
		conn, err = u.dial()
	}
	if err != nil {
		return err
	}
	u.begin()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(cfg.Timeout))
	br := bufio.NewReaderSize(conn, 4<<10)
	answer, code, err := writeAndReadHead(conn, br, head)
	if err != nil {
		conn.Close()
		u.end()
		return err
	}
	u.cell.observe(time.Since(start))
	u.succeeded()
	u.cell.count(code)
	if code != fasthttp.StatusSwitchingProtocols {
		// A refusal (a 400, a 404, a 426): pass it on, and drop the connection.
		defer u.end()
		defer conn.Close()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		resp.Header.SetNoDefaultContentType(true)
		r := bufio.NewReader(io.MultiReader(bytes.NewReader(answer), br))
		if err := resp.ReadLimitBody(r, maxUpgradeRefusal); err != nil {
			p.fail(ctx, pool, err)
			return nil
		}
		forwardResponseHeader(resp, &ctx.Response)
		ctx.Response.SetBody(resp.Body())
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	// Via goes in before the blank line that ends the head.
	answer = append(bytes.TrimSuffix(answer, []byte("\r\n")), "Via: "+viaValue+"\r\n\r\n"...)
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols) // for the metrics and the access log
	ctx.HijackSetNoResponse(true)
	idle := cfg.TunnelIdleTimeout
	ctx.Hijack(func(c net.Conn) { p.tunnel(c, conn, br, answer, u, idle) })
	return nil
}

// writeAndReadHead sends an upgrade request's head and reads the answer's
// head, up to its blank line; it returns the head and the status code.
func writeAndReadHead(conn net.Conn, br *bufio.Reader, head []byte) ([]byte, int, error) {
	if _, err := conn.Write(head); err != nil {
		return nil, 0, err
	}
	var answer []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				err = errBadUpgradeAnswer
			}
			return nil, 0, err
		}
		answer = append(answer, line...)
		if len(answer) > maxUpgradeHead {
			return nil, 0, errBadUpgradeAnswer
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	status, _, _ := bytes.Cut(answer, []byte("\r\n"))
	f := bytes.Fields(status)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/")) {
		return nil, 0, errBadUpgradeAnswer
	}
	code, err := strconv.Atoi(string(f[1]))
	if err != nil || code < 100 || code > 599 {
		return nil, 0, errBadUpgradeAnswer
	}
	return answer, code, nil
}

// tunnelBufSize is each direction's buffer.
const tunnelBufSize = 16 << 10

// wsTunnel is a hijacked client connection joined to its upstream's.
type wsTunnel struct {
	client, up net.Conn
	idle       time.Duration
	last       atomic.Int64 // unix nanoseconds of the last bytes, either way
	stopped    atomic.Bool
	once       sync.Once
}

// tunnel relays between a hijacked client connection and the upstream's
// until either side closes or fails, both have been quiet for idle, or
// the proxy closes; then it closes both. It runs in the server's hijack
// goroutine and waits for the relay goroutine it starts; the proxy counts
// it until it returns.
func (p *Proxy) tunnel(client, up net.Conn, upR *bufio.Reader, answer []byte, u *upstream, idle time.Duration) {
	defer u.end()
	t := &wsTunnel{client: client, up: up, idle: idle}
	if !p.addTunnel(t) {
		up.Close()
		return
	}
	defer p.removeTunnel(t)
	now := time.Now()
	t.last.Store(now.UnixNano())
	_ = client.SetWriteDeadline(now.Add(idle))
	if _, err := client.Write(answer); err != nil {
		t.stop()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.pump(up, client, client)
		t.stop()
	}()
	t.pump(client, up, upR)
	t.stop()
	<-done
}

// pump copies from src (read through r) to dst until either fails, the
// tunnel stops, or it has been idle both ways for t.idle. Each side's
// deadline is moved only once less than half the idle timeout is left.
func (t *wsTunnel) pump(dst, src net.Conn, r io.Reader) {
	buf := make([]byte, tunnelBufSize)
	idle := int64(t.idle)
	var readBy, writeBy int64 // the deadlines set, unix nanoseconds
	now := time.Now().UnixNano()
	for {
		if readBy-now < idle/2 {
			readBy = now + idle
			if src.SetReadDeadline(time.Unix(0, readBy)) != nil || t.stopped.Load() {
				return // stopped: its past deadline may have been overwritten
			}
		}
		n, err := r.Read(buf)
		now = time.Now().UnixNano()
		if n > 0 {
			t.last.Store(now)
			if writeBy-now < idle/2 {
				writeBy = now + idle
				if dst.SetWriteDeadline(time.Unix(0, writeBy)) != nil || t.stopped.Load() {
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if t.stopped.Load() || !isTimeout(err) || now-t.last.Load() >= idle {
				return
			}
			readBy = 0 // the other way was busy: wait again
		}
	}
}

// stop ends the tunnel: the upstream connection closes, and the client's
// (whose Close belongs to the server, which closes it when the hijack
// handler returns) gets a past deadline, which ends a Read or a Write
// blocked on it now.
func (t *wsTunnel) stop() {
	t.once.Do(func() {
		t.stopped.Store(true)
		t.up.Close()
		_ = t.client.SetDeadline(time.Unix(1, 0))
	})
}

// addTunnel counts t among the proxy's tunnels, which Close ends; false:
// the proxy is closed.
func (p *Proxy) addTunnel(t *wsTunnel) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.tunnels == nil {
		p.tunnels = make(map[*wsTunnel]struct{})
	}
	p.tunnels[t] = struct{}{}
	p.tunnelWG.Add(1)
	return true
}

func (p *Proxy) removeTunnel(t *wsTunnel) {
	p.mu.Lock()
	delete(p.tunnels, t)
	p.mu.Unlock()
	p.tunnelWG.Done()
}

// closeTunnels ends every tunnel and waits for them. The proxy is closed:
// no new one starts.
func (p *Proxy) closeTunnels() {
	p.mu.Lock()
	open := make([]*wsTunnel, 0, len(p.tunnels))
	for t := range p.tunnels {
		open = append(open, t)
	}
	p.mu.Unlock()
	for _, t := range open {
		t.stop()
	}
	p.tunnelWG.Wait()
}
