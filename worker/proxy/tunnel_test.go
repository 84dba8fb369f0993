package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// pxWSEcho sends one frame on a tunnel and checks its echo.
func pxWSEcho(t *testing.T, c net.Conn, r *bufio.Reader, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := pxWSWrite(c, 1, []byte(msg), true); err != nil {
		t.Fatal(err)
	}
	if _, got, err := pxWSRead(r); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// pxWSClosed waits up to d for the proxy to close a tunnel's client
// connection, and reports whether it did.
func pxWSClosed(c net.Conn, r *bufio.Reader, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r)
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

// A tunnel that carries nothing either way for TunnelIdleTimeout is
// closed; one that keeps carrying something, either way, is not.
func TestProxyTunnelIdleTimeout(t *testing.T) {
	a := pxUpstream(t, "a")
	const idle = 400 * time.Millisecond
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr}, TunnelIdleTimeout: idle}, worker.ServerConfig{})
	quiet, quietR, _ := pxWSDial(t, addr)
	defer quiet.Close()
	busy, busyR, _ := pxWSDial(t, addr)
	defer busy.Close()
	pxWSEcho(t, quiet, quietR, "once")
	began := time.Now()
	for time.Since(began) < 4*idle {
		pxWSEcho(t, busy, busyR, "ping")
		time.Sleep(idle / 8)
	}
	if !pxWSClosed(quiet, quietR, 5*time.Second) {
		t.Fatal("an idle tunnel stayed open")
	}
	pxWSEcho(t, busy, busyR, "still open")
	waitFor(t, "the idle tunnel to end", 5*time.Second, func() bool {
		return p.pool.Load().byAddr[a.addr].inflight.Load() == 1
	})
}

// Tunnels are connections: they count among the server's active ones and
// against MaxConnections.
func TestProxyTunnelsCountAsConnections(t *testing.T) {
	a := pxUpstream(t, "a")
	sm, addr, _ := pxFrontManager(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{MaxConnections: 3})
	active := func() int64 { return sm.Metrics().Servers[addr].Active }
	var tunnels []net.Conn
	for range 3 {
		c, r, _ := pxWSDial(t, addr)
		defer c.Close()
		pxWSEcho(t, c, r, "hi")
		tunnels = append(tunnels, c)
	}
	waitFor(t, "3 active connections", 5*time.Second, func() bool { return active() == 3 })
	if code := pxRaw(t, addr, "GET / HTTP/1.1\r\nHost: proxy.test\r\n\r\n", false); code == 200 {
		t.Errorf("a 4th connection over MaxConnections 3 (3 tunnels) was served")
	}
	tunnels[0].Close()
	waitFor(t, "2 active connections", 5*time.Second, func() bool { return active() == 2 })
	if code := pxRaw(t, addr, "GET / HTTP/1.1\r\nHost: proxy.test\r\n\r\n", false); code != 200 {
		t.Errorf("with a tunnel closed: %d, want 200", code)
	}
}

// Tunnels count against MaxConnsPerUpstream, pooled connections with them.
func TestProxyTunnelsRespectUpstreamMaxConns(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr}, MaxConnsPerUpstream: 2}, worker.ServerConfig{})
	if code, _, _, err := pxFetch(pxClient(t), "GET", addr, "/", nil); err != nil || code != 200 {
		t.Fatalf("GET: %d %v", code, err) // leaves a pooled connection
	}
	c1, r1, _ := pxWSDial(t, addr)
	defer c1.Close()
	c2, r2, _ := pxWSDial(t, addr)
	defer c2.Close()
	pxWSEcho(t, c1, r1, "one")
	pxWSEcho(t, c2, r2, "two")
	if code := pxRaw(t, addr, "GET /ws HTTP/1.1\r\nHost: proxy.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", false); code != 502 {
		t.Errorf("a 3rd tunnel over MaxConnsPerUpstream 2: %d, want 502", code)
	}
	a.mu.Lock()
	open := len(a.conns)
	a.mu.Unlock()
	if open > 2 {
		t.Errorf("the upstream has %d connections from the proxy, want at most 2", open)
	}
	if up, _ := p.UpstreamUp(a.addr); !up {
		t.Error("the proxy's own limit took the upstream out of rotation")
	}
	c1.Close()
	waitFor(t, "a tunnel to end", 5*time.Second, func() bool { return p.pool.Load().byAddr[a.addr].conns.Load() == 1 })
	c3, r3, _ := pxWSDial(t, addr)
	defer c3.Close()
	pxWSEcho(t, c3, r3, "three")
}

// Draining, shutting down and closing the proxy end the tunnels.
func TestProxyTunnelsCloseOnShutdown(t *testing.T) {
	for _, how := range []string{"drain", "graceful shutdown", "proxy close"} {
		t.Run(how, func(t *testing.T) {
			a := pxUpstream(t, "a")
			sm, addr, p := pxFrontManager(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
			c, r, _ := pxWSDial(t, addr)
			defer c.Close()
			pxWSEcho(t, c, r, "hi")
			done := make(chan error, 1)
			go func() {
				switch how {
				case "drain":
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					done <- sm.Drain(ctx, 0)
				case "graceful shutdown":
					done <- sm.GracefulShutdown(10 * time.Second)
				default:
					p.Close()
					done <- nil
				}
			}()
			if !pxWSClosed(c, r, 8*time.Second) {
				t.Fatalf("%s left the tunnel open", how)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", how, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not return", how)
			}
			waitFor(t, "the tunnel to end", 5*time.Second, func() bool {
				return p.pool.Load().byAddr[a.addr].inflight.Load() == 0
			})
		})
	}
}

// Only a GET without a body is tunneled.
func TestProxyTunnelOnlyForAPlainGet(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	const hs = "Host: proxy.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if code := pxRaw(t, addr, "POST /ws HTTP/1.1\r\n"+hs+"Content-Length: 0\r\n\r\n", false); code == 101 {
		t.Error("a POST was tunneled")
	}
	if code := pxRaw(t, addr, "GET /ws HTTP/1.1\r\n"+hs+"Content-Length: 5\r\n\r\nhello", false); code != 400 {
		t.Errorf("a handshake with a body: %d, want 400", code)
	}
}
