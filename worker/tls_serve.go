package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/netutil"
)

// One router, three protocols.
//
// A TLS binding does the TLS handshake itself, on Rockstar's own listener,
// and splits the connections by the protocol ALPN negotiated:
//
//	TCP listener --accept--> handshake (one goroutine per connection)
//	     "h2"                 -> h2Server (tls_h2*.go): Rockstar's own HTTP/2
//	     "http/1.1", none     -> h1 queue -> the binding's fasthttp Server
//	UDP socket (EnableQUIC)   -> quic-go http3 Server                 -> adapter
//
// The HTTP/2 server decodes each stream straight into a pooled
// fasthttp.RequestCtx, and the adapter (tls_adapter.go) turns each HTTP/3
// request (quic-go's net/http-style one) into one; both serve it through
// the binding's dispatch, exactly as fasthttp serves HTTP/1.1: the same
// host routing, middleware, limits, metrics and access log.
//
// Lifecycle: the binding owns the extra servers. Closing the binding's
// listener (Drain, Shutdown) stops the TCP accept; a graceful stop sends
// GOAWAY on every HTTP/2 and HTTP/3 connection, lets their streams finish
// until the context ends, and then closes what is left. HTTP/2
// connections count in the binding's active connections and are closed
// with them.

// tlsOptions is what a TLS listen asks of bind.
type tlsOptions struct {
	cfg      *tls.Config    // certificate sources; bind owns it (a clone)
	pc       net.PacketConn // UDP socket for HTTP/3; nil: open one on the TCP port
	quic     bool           // serve HTTP/3
	quicOnly bool           // HTTP/3 alone (ListenQUIC): no TCP listener
}

// Protocol IDs negotiated by ALPN.
const (
	alpnH1 = "http/1.1"
	alpnH2 = "h2"
	// alpnACME is what an ACME CA offers to check a TLS-ALPN-01
	// challenge (RFC 8737): a TLSConfig's GetConfigForClient answers it,
	// and the connection, which carries nothing after the handshake, is
	// closed.
	alpnACME = "acme-tls/1"
)

// handshakeGrace bounds how long a stopping listener waits for handshakes
// already under way, whose connections it then still serves.
const handshakeGrace = 500 * time.Millisecond

// tlsServe is the TLS side of one binding.
type tlsServe struct {
	b        *binding
	raw      net.Listener // TCP; a placeholder when quicOnly
	quicOnly bool
	tlsCfg   *tls.Config // the handshake's: ALPN and per-host certificates
	userCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	certs    atomic.Pointer[certTable]

	h1    *connQueue     // fasthttp's listener, the binding's ln
	h2    *h2Server      // nil without EnableHTTP2
	pc    net.PacketConn // nil without QUIC
	h3srv *http3.Server
	h3    quicConns // HTTP/3 connections, closed at shutdown's deadline
	// altSvc is the Alt-Svc value that HTTP/1.1 and HTTP/2 responses carry
	// while HTTP/3 is served; "" without QUIC.
	altSvc string

	maxConns  int64
	hsTimeout time.Duration
	h1Group   *connGroup // the phase timeouts of HTTP/1.1 connections
	hsCtx     context.Context
	hsCancel  context.CancelFunc
	hsWG      sync.WaitGroup // handshakes in progress
	closing   atomic.Bool    // the TCP listener was closed by us
	stopOnce  sync.Once
	shutOnce  sync.Once
	shutDone  chan error // the graceful stop's result, once
	failOnce  sync.Once
	log       zerolog.Logger
	wg        sync.WaitGroup // accept loop and the extra servers' Serve
}

// newTLSServe prepares the TLS side of a binding on raw (the TCP listener,
// or a placeholder for HTTP/3 alone). It returns the listener fasthttp is
// to serve, which yields the HTTP/1.1 connections.
func newTLSServe(raw net.Listener, opts *tlsOptions, cfg ServerConfig, g *connGroup, lg zerolog.Logger) (*tlsServe, net.Listener, error) {
	ts := &tlsServe{
		raw:       raw,
		quicOnly:  opts.quicOnly,
		maxConns:  int64(cfg.MaxConnections),
		hsTimeout: cfg.ReadTimeout,
		h1Group:   g,
		log:       lg,
		shutDone:  make(chan error, 1),
	}
	ts.hsCtx, ts.hsCancel = context.WithCancel(context.Background())
	base := opts.cfg
	ts.userCert = base.GetCertificate
	base.GetCertificate = ts.getCertificate
	base.NextProtos = nextProtos(base.NextProtos, cfg.EnableHTTP2)
	ts.tlsCfg = base
	ts.h1 = newConnQueue(raw.Addr(), ts.stopAccepting)
	if cfg.EnableHTTP2 && !opts.quicOnly {
		ts.h2 = newH2Server(ts, cfg, lg)
	}
	if opts.quic {
		pc := opts.pc
		if pc == nil {
			var err error
			if pc, err = netutil.ListenPacketReusePort("udp", raw.Addr().String()); err != nil {
				return nil, nil, fmt.Errorf("worker: listen QUIC %s: %w", raw.Addr(), err)
			}
		}
		ts.pc = pc
		if a, ok := pc.LocalAddr().(*net.UDPAddr); ok {
			ts.altSvc = fmt.Sprintf(`h3=":%d"; ma=86400`, a.Port)
		}
		h3a := &adapter{ts: ts, proto: "HTTP/3.0", maxBody: cfg.MaxRequestSize, flog: fasthttpLogger{lg}}
		ts.h3srv = &http3.Server{
			TLSConfig:      base.Clone(),
			Handler:        h3a,
			ConnContext:    ts.h3.track,
			MaxHeaderBytes: cfg.MaxHeaderBytes,
			IdleTimeout:    cfg.IdleTimeout,
			QUICConfig: &quic.Config{
				MaxIdleTimeout: cfg.IdleTimeout,
				// No 0-RTT: its requests can be replayed.
				Allow0RTT: false,
			},
		}
	}
	return ts, ts.h1, nil
}

// nextProtos is what ALPN offers: h2 first when HTTP/2 is on, then
// http/1.1. A TLSConfig's own list is kept in its order, less what is not
// served.
func nextProtos(user []string, h2 bool) []string {
	var out []string
	for _, p := range user {
		if (p == alpnH2 && h2) || p == alpnH1 {
			out = append(out, p)
		}
	}
	if h2 && !slices.Contains(out, alpnH2) {
		out = append([]string{alpnH2}, out...)
	}
	if !slices.Contains(out, alpnH1) {
		out = append(out, alpnH1)
	}
	return out
}

// attach ties ts to its binding; nil-safe.
func (ts *tlsServe) attach(b *binding) {
	if ts != nil {
		ts.b = b
	}
}

// getCertificate picks the certificate of the host the SNI names, then
// the TLSConfig's GetCertificate, then (returning nil) its Certificates.
func (ts *tlsServe) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName != "" {
		if c := ts.certs.Load().forName(strBytes(hello.ServerName)); c != nil {
			return c, nil
		}
	}
	if ts.userCert != nil {
		return ts.userCert(hello)
	}
	return nil, nil
}

// start serves: the accept loop, HTTP/2 and HTTP/3. nil-safe.
func (ts *tlsServe) start() {
	if ts == nil {
		return
	}
	if !ts.quicOnly {
		ts.wg.Add(1)
		go ts.acceptLoop()
	}
	if ts.h3srv != nil {
		ts.wg.Go(func() {
			err := ts.h3srv.Serve(ts.pc)
			if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) || ts.closing.Load() {
				return
			}
			if ts.quicOnly {
				ts.fail(fmt.Errorf("http3: %w", err))
				return
			}
			ts.log.Error().Err(err).Str("addr", ts.pc.LocalAddr().String()).Msg("HTTP/3 stopped; HTTP/1.1 and HTTP/2 go on")
		})
	}
}

// acceptLoop accepts TCP connections and hands each to its handshake.
func (ts *tlsServe) acceptLoop() {
	defer ts.wg.Done()
	var delay time.Duration
	for {
		c, err := ts.raw.Accept()
		if err != nil {
			if ts.closing.Load() {
				return
			}
			if acceptRetryable(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				ts.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept")
				time.Sleep(delay)
				continue
			}
			ts.fail(err)
			return
		}
		delay = 0
		ts.hsWG.Add(1)
		go ts.handshake(c)
	}
}

// acceptRetryable reports whether an accept error passes (too many open files,
// a connection aborted before it was accepted).
func acceptRetryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// handshake does the TLS handshake of c and queues the connection for the
// server of the protocol ALPN chose.
func (ts *tlsServe) handshake(c net.Conn) {
	defer ts.hsWG.Done()
	tc := tls.Server(c, ts.tlsCfg)
	if ts.hsTimeout > 0 {
		_ = c.SetDeadline(time.Now().Add(ts.hsTimeout))
	}
	if err := tc.HandshakeContext(ts.hsCtx); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	proto := tc.ConnectionState().NegotiatedProtocol
	if proto == alpnACME {
		_ = c.Close()
		return
	}
	if ts.h2 != nil && proto == alpnH2 {
		if ts.b != nil && ts.b.active.Load() >= ts.maxConns {
			_ = c.Close()
			return
		}
		ts.h2.serve(tc)
		return
	}
	if sc, ok := c.(*serverConn); ok {
		sc.startPhases(ts.h1Group)
	}
	ts.h1.put(&tlsConn{Conn: tc}) // fasthttp reads it through the head watch (h1_headwatch.go)
}

// stopAccepting closes the TCP listener. Handshakes under way go on, and
// their connections are still served, until shutdown's handover.
func (ts *tlsServe) stopAccepting() {
	ts.stopOnce.Do(func() {
		ts.closing.Store(true)
		_ = ts.raw.Close()
	})
}

// handover waits, up to handshakeGrace or ctx, for the handshakes under
// way (their connections join their servers), cancels the rest, and
// closes the queues: from then on the HTTP/1.1 and HTTP/2 servers accept
// nothing more.
func (ts *tlsServe) handover(ctx context.Context) {
	ts.stopAccepting()
	done := make(chan struct{})
	go func() { ts.hsWG.Wait(); close(done) }()
	t := time.NewTimer(handshakeGrace)
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	ts.hsCancel()
	<-done
	ts.h1.close(nil)
}

// shutdown stops ts gracefully and returns a channel that yields the
// result once: no more connections, then GOAWAY on every HTTP/2 and HTTP/3
// connection, whose streams may finish until ctx ends; then everything is
// closed. It may be called more than once (Drain, then the binding's
// shutdown); each call gets the first one's result. nil-safe.
func (ts *tlsServe) shutdown(ctx context.Context) <-chan error {
	if ts == nil {
		return nil
	}
	ts.shutOnce.Do(func() {
		ts.handover(ctx)
		go func() {
			var wg sync.WaitGroup
			var err2, err3 error
			if ts.h2 != nil {
				wg.Go(func() { err2 = ts.h2.shutdown(ctx) })
			}
			if ts.h3srv != nil {
				wg.Go(func() {
					err3 = ts.shutdownH3(ctx)
					_ = ts.pc.Close()
				})
			}
			wg.Wait()
			ts.wg.Wait()
			ts.shutDone <- errors.Join(err2, err3)
			close(ts.shutDone)
		}()
	})
	return ts.shutDone
}

// fail ends the binding's fasthttp Serve with err (the TCP listener, or
// HTTP/3 alone, failed by itself) and closes the extra servers.
func (ts *tlsServe) fail(err error) {
	ts.failOnce.Do(func() {
		ts.h1.close(err)
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if ch := ts.shutdown(ctx); ch != nil {
				<-ch
			}
		}()
	})
}

// admitHTTP1 runs before the dispatch of an HTTP/1.1 request that came
// over TLS: it answers 421 (returning false) if the request's Host
// belongs to another certificate than its SNI.
func (ts *tlsServe) admitHTTP1(ctx *fasthttp.RequestCtx) bool {
	if t := ts.certs.Load(); t != nil && t.hosts.len() > 0 {
		if tc, ok := ctx.Conn().(interface{ ConnectionState() tls.ConnectionState }); ok && t.misdirected(tc.ConnectionState().ServerName, ctx.Host()) {
			misdirected(ctx)
			ts.advertise(ctx)
			return false
		}
	}
	return true
}

// advertise sets Alt-Svc on an HTTP/1.1 response while HTTP/3 is on. It
// runs after the handler: ctx.Error resets the headers.
func (ts *tlsServe) advertise(ctx *fasthttp.RequestCtx) {
	if ts.altSvc != "" {
		ctx.Response.Header.Set("Alt-Svc", ts.altSvc)
	}
}

// quicAlone reports whether the binding serves HTTP/3 alone (no TCP to
// dial for a health check). nil-safe.
func (ts *tlsServe) quicAlone() bool { return ts != nil && ts.quicOnly }

// ---- Server methods ----

// listenTLSOn binds s with TLS: on addr, or on ln when it is not nil.
func (s *server) listenTLSOn(addr string, ln net.Listener, pc net.PacketConn, certFile, keyFile string) error {
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		if pc != nil {
			_ = pc.Close()
		}
		return err
	}
	opts := &tlsOptions{cfg: cfg, pc: pc, quic: pc != nil || s.cfg.EnableQUIC}
	wait, err := s.m.bind(s, addr, opts, ln)
	if err != nil {
		if pc != nil {
			_ = pc.Close()
		}
		return err
	}
	return wait()
}

// ServeTLS is ListenTLS on sockets the caller opened (the supervisor's):
// TLS with the ALPN split on ln, and HTTP/3 on pc when it is not nil (or,
// with EnableQUIC, on a UDP socket it opens on ln's port). The server
// closes both when it stops.
func (s *server) ServeTLS(ln net.Listener, pc net.PacketConn, certFile, keyFile string) error {
	return s.listenTLSOn(ln.Addr().String(), ln, pc, certFile, keyFile)
}

// ListenQUIC serves HTTP/3 alone on the UDP address addr (opened with
// SO_REUSEPORT), with the certificate pair or the config's TLSConfig, and
// per-host certificates by SNI.
func (s *server) ListenQUIC(addr, certFile, keyFile string) error {
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	if !isEphemeral(addr) {
		s.m.mu.Lock()
		_, taken := s.m.bindings[addr]
		s.m.mu.Unlock()
		if taken {
			return fmt.Errorf("%w: listen QUIC %s: this manager serves that address over TCP; use ListenTLS with EnableQUIC", ErrServerRunning, addr)
		}
	}
	pc, err := netutil.ListenPacketReusePort("udp", addr)
	if err != nil {
		return fmt.Errorf("worker: listen QUIC %s: %w", addr, err)
	}
	ph := newConnQueue(pc.LocalAddr(), nil) // accepts nothing: no TCP
	opts := &tlsOptions{cfg: cfg, pc: pc, quic: true, quicOnly: true}
	wait, err := s.m.bind(s, addr, opts, ph)
	if err != nil {
		_ = pc.Close()
		return err
	}
	return wait()
}

// ---- connQueue ----

// connQueue is a net.Listener fed by a channel: the handshakes put
// connections, a server accepts them.
type connQueue struct {
	addr    net.Addr
	ch      chan net.Conn
	done    chan struct{}
	once    sync.Once
	err     error  // set before done is closed
	onClose func() // called by Close (the HTTP/1.1 face closes the TCP listener)
}

func newConnQueue(addr net.Addr, onClose func()) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{}), onClose: onClose}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, q.err
	}
}

// put hands c to the server, or closes it once the queue is closed.
func (q *connQueue) put(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		_ = c.Close()
	}
}

// Close is the server's: for the HTTP/1.1 face it stops the TCP accept;
// the queue itself stays open for handshakes under way until handover.
// A queue without onClose (HTTP/2's) closes at once.
func (q *connQueue) Close() error {
	if q.onClose != nil {
		q.onClose()
		return nil
	}
	q.close(nil)
	return nil
}

// close ends Accept with err (net.ErrClosed when nil).
func (q *connQueue) close(err error) {
	q.once.Do(func() {
		if err == nil {
			err = net.ErrClosed
		}
		q.err = err
		close(q.done)
	})
}

func (q *connQueue) Addr() net.Addr { return q.addr }
