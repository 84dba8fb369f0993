package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// A minimal WebSocket (RFC 6455) for the tests: the handshake, and frames
// without fragmentation.

const pxWSGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func pxWSAccept(key string) string {
	h := sha1.Sum([]byte(key + pxWSGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// serveWebSocket answers the handshake and echoes every frame until a close.
func (u *pxTestUpstream) serveWebSocket(ctx *fasthttp.RequestCtx) {
	key := string(ctx.Request.Header.Peek("Sec-WebSocket-Key"))
	if !ctx.Request.Header.ConnectionUpgrade() || key == "" {
		ctx.Error("not a websocket handshake", fasthttp.StatusBadRequest)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	ctx.Response.Header.Set("Upgrade", "websocket")
	ctx.Response.Header.Set("Connection", "Upgrade")
	ctx.Response.Header.Set("Sec-WebSocket-Accept", pxWSAccept(key))
	ctx.Response.Header.Set("X-Upstream", u.name)
	ctx.Hijack(func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			op, payload, err := pxWSRead(r)
			if err != nil {
				return
			}
			if err := pxWSWrite(c, op, payload, false); err != nil || op == 8 {
				return
			}
		}
	})
}

// pxWSWrite writes one final frame; a client masks it.
func pxWSWrite(w io.Writer, op byte, payload []byte, mask bool) error {
	var hdr []byte
	hdr = append(hdr, 0x80|op)
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, m|byte(n))
	case n < 1<<16:
		hdr = append(hdr, m|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, m|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	body := payload
	if mask {
		var key [4]byte
		_, _ = rand.Read(key[:])
		hdr = append(hdr, key[:]...)
		body = make([]byte, len(payload))
		for i := range payload {
			body[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(hdr, body...))
	return err
}

// pxWSRead reads one frame and unmasks it.
func pxWSRead(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, nil
}

// pxWSDial opens a WebSocket to addr's proxy.test host through the proxy
// and checks the handshake.
func pxWSDial(t testing.TB, addr string) (net.Conn, *bufio.Reader, http.Header) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: proxy.test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		t.Fatalf("handshake: %s, want 101", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != pxWSAccept(key) {
		c.Close()
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, pxWSAccept(key))
	}
	return c, r, resp.Header
}

func TestProxyWebSocketEcho(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	c, r, h := pxWSDial(t, addr)
	defer c.Close()
	if h.Get("X-Upstream") != "a" || !strings.Contains(h.Get("Via"), viaValue) {
		t.Errorf("handshake headers %v: want X-Upstream a and Via", h)
	}
	for _, msg := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("x"), 300), bytes.Repeat([]byte("y"), 200<<10)} {
		if err := pxWSWrite(c, 1, msg, true); err != nil {
			t.Fatal(err)
		}
		op, got, err := pxWSRead(r)
		if err != nil {
			t.Fatal(err)
		}
		if op != 1 || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: op %d, %d bytes back", len(msg), op, len(got))
		}
	}
	// The tunnel counts as a request in flight on the upstream.
	if n := p.pool.Load().byAddr[a.addr].inflight.Load(); n != 1 {
		t.Errorf("in flight during the tunnel: %d, want 1", n)
	}
	if err := pxWSWrite(c, 8, []byte{3, 232}, true); err != nil {
		t.Fatal(err)
	}
	if op, _, err := pxWSRead(r); err != nil || op != 8 {
		t.Fatalf("close: op %d, %v", op, err)
	}
	// Both sides close: the tunnel ends and the upstream is idle.
	c.Close()
	waitFor(t, "the tunnel to end", 5*time.Second, func() bool {
		return p.pool.Load().byAddr[a.addr].inflight.Load() == 0
	})
}

// An upstream that refuses the upgrade: its answer is passed on.
func TestProxyWebSocketRefused(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: proxy.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "not a websocket handshake") {
		t.Fatalf("reply %s %q, want the upstream's 400", resp.Status, body)
	}
}

// An upgrade to a dead upstream goes to another one.
func TestProxyWebSocketFailover(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, MaxFails: -1}, worker.ServerConfig{})
	a.kill()
	for range 4 {
		c, r, h := pxWSDial(t, addr)
		if h.Get("X-Upstream") != "b" {
			t.Errorf("upgrade went to %q, want b", h.Get("X-Upstream"))
		}
		if err := pxWSWrite(c, 2, []byte{1, 2, 3}, true); err != nil {
			t.Fatal(err)
		}
		if _, got, err := pxWSRead(r); err != nil || !bytes.Equal(got, []byte{1, 2, 3}) {
			t.Fatalf("echo: %v %v", got, err)
		}
		c.Close()
	}
}
