package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// maxUpgradeHead bounds an upstream's answer head to an upgrade request.
const maxUpgradeHead = 64 << 10

// maxUpgradeRefusal bounds the body of an upstream's refusal of an upgrade.
const maxUpgradeRefusal = 1 << 20

// errBadUpgradeAnswer: the upstream's answer to an upgrade request is not HTTP.
var errBadUpgradeAnswer = errors.New("worker: malformed upstream answer to an upgrade")

// isUpgrade reports whether a request asks to switch to WebSocket.
func isUpgrade(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && bytes.EqualFold(bytes.TrimSpace(h.Peek(fasthttp.HeaderUpgrade)), []byte("websocket"))
}

// serveUpgrade forwards a WebSocket handshake on a connection of its own;
// when the upstream switches protocols, the client's connection is
// hijacked and joined to the upstream's until either side closes.
func (p *ProxyHandler) serveUpgrade(ctx *fasthttp.RequestCtx, pool *proxyPool) {
	var hdr fasthttp.RequestHeader
	if !forwardRequestHeader(ctx, &hdr, pool.cfg.Name) {
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
func (p *ProxyHandler) upgradeOn(ctx *fasthttp.RequestCtx, pool *proxyPool, u *upstream, head []byte) error {
	cfg := &pool.cfg
	d := net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.Dial("tcp", u.addr)
	if err != nil {
		return fmt.Errorf("%w %s: %w", errUpstreamConnect, u.addr, err)
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
	ctx.Hijack(func(c net.Conn) { tunnel(c, conn, br, answer, u) })
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

// tunnel relays between a hijacked client connection and the upstream's
// until either side closes or fails, then closes both. It runs in the
// server's hijack goroutine and waits for the relay goroutine it starts.
func tunnel(client net.Conn, up net.Conn, upR *bufio.Reader, answer []byte, u *upstream) {
	defer u.end()
	_ = client.SetDeadline(time.Time{}) // the server's read and write timeouts are for HTTP
	if _, err := client.Write(answer); err != nil {
		up.Close()
		return
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			up.Close()
			// The hijacked connection's Close is the server's; a past
			// deadline ends a Read blocked on it now.
			_ = client.SetReadDeadline(time.Unix(1, 0))
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, client)
		stop()
	}()
	_, _ = io.Copy(client, upR)
	stop()
	<-done
}
