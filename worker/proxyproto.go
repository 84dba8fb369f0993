package worker

import (
	"net"
	"time"

	"github.com/pires/go-proxyproto"
)

// The PROXY protocol (ServerConfig.ProxyProtocol): a load balancer that
// passes TCP through (HAProxy, AWS NLB, ...) opens each connection with a
// header, version 1 (text) or 2 (binary), that names the client's address;
// github.com/pires/go-proxyproto reads it. The header's source address is
// then the connection's address: ctx.RemoteAddr, the access log, rate
// limits and, when it is itself a trusted proxy, the start of the walk
// through X-Forwarded-For (realip.go). A v2 LOCAL header (the balancer's
// own health check) or a v1 UNKNOWN one keeps the socket peer.
//
// As with nginx's "listen ... proxy_protocol", the header is required: a
// connection that does not open with a valid one within ReadTimeout is
// closed without an answer (its first read fails). With TrustedProxies
// set, only those peers may connect at all: a connection from any other
// socket peer is closed as soon as it is accepted, unread, since it could
// otherwise name any client it liked. The header is read on the
// connection's own goroutine (before the TLS handshake on a TLS
// listener), never on the accepting one, so a silent peer holds up no
// other connection. Such a listener has no event loop: every connection
// gets a goroutine (ServerConfig.DisableEventLoop).

// proxyListener hands out connections that read a PROXY header first.
type proxyListener struct {
	net.Listener
	real    *realIP // nil: every peer may send a header
	timeout time.Duration
}

func newProxyListener(ln net.Listener, cfg ServerConfig, real *realIP) net.Listener {
	return &proxyListener{Listener: ln, real: real, timeout: cfg.ReadTimeout}
}

func (l *proxyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.real != nil {
			if peer := addrOf(c.RemoteAddr()); !peer.IsValid() || !l.real.trusts(peer) {
				_ = c.Close()
				continue
			}
		}
		return &proxyConn{Conn: proxyproto.NewConn(c,
			proxyproto.WithPolicy(proxyproto.REQUIRE),
			proxyproto.SetReadHeaderTimeout(l.timeout))}, nil
	}
}

// proxyConn is a *proxyproto.Conn that can still half-close its socket
// (lingering, h1_linger.go).
type proxyConn struct {
	*proxyproto.Conn
}

func (c *proxyConn) CloseWrite() error {
	if cw, ok := c.Raw().(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
