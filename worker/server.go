package worker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
)

// Server is one HTTP server: a configuration, a router, and, once started,
// an address it listens on.
type Server interface {
	// SetRouter sets the router whose hosts and routes the server serves.
	// It may be called while serving.
	SetRouter(r *Router)
	// Listen serves HTTP on addr and blocks until the server stops. It
	// returns nil after Shutdown, StopAll or RemoveServer, and an error if
	// it cannot bind. Servers of one manager that listen on the same
	// address share one listener; a standalone listener is opened with
	// SO_REUSEPORT, so several processes can share the port, and a second
	// process of the same user binding it does not fail but takes part of
	// its connections. For a port of its own, open the listener with
	// netutil.ListenExclusive (which fails with EADDRINUSE when the
	// address is taken) and pass it to Serve or ServeTLS. Windows has no
	// SO_REUSEPORT: there Listen fails with an error wrapping
	// netutil.ErrUnsupported, and Serve on such a listener works.
	Listen(addr string) error
	// Serve is Listen on a listener the caller opened (for example one
	// inherited from the supervisor); the server closes it when it stops.
	Serve(ln net.Listener) error
	// ListenTLS is Listen over TLS with the given certificate pair (or the
	// config's TLSConfig), hosts' own certificates picked by SNI. ALPN
	// offers h2 first when EnableHTTP2 is set: HTTP/1.1 connections go to
	// fasthttp, HTTP/2 ones to Rockstar's own HTTP/2 server, both through the
	// same handlers. With EnableQUIC it also serves HTTP/3 on the same UDP
	// port and advertises it with Alt-Svc. See tls_serve.go.
	ListenTLS(addr, certFile, keyFile string) error
	// ListenQUIC serves HTTP/3 alone on the UDP address addr.
	ListenQUIC(addr, certFile, keyFile string) error
	// ServeTLS is ListenTLS on sockets the caller opened: ln for TCP and,
	// if not nil, pc for HTTP/3. The server closes them when it stops.
	ServeTLS(ln net.Listener, pc net.PacketConn, certFile, keyFile string) error
	// IsRunning reports whether the server is listening.
	IsRunning() bool
	// Protocol names the newest protocol the server is configured for:
	// "HTTP/3", "HTTP/2" or "HTTP/1.1".
	Protocol() string
	// Addr is the server's address: the one it was registered or is
	// listening under, or "" if none.
	Addr() string
	// Shutdown stops the server gracefully: it stops accepting, lets
	// in-flight requests finish and closes idle connections. When ctx ends
	// first (or, without a deadline, after ShutdownTimeout) it closes the
	// rest and returns an error wrapping context.DeadlineExceeded.
	Shutdown(ctx context.Context) error
	// Close stops the server at once, closing every connection.
	Close() error
	// Config returns the server's configuration, defaults applied.
	Config() ServerConfig
}

type server struct {
	m   *serverManager
	id  int
	cfg ServerConfig

	router atomic.Pointer[Router]
	access *accessLog // nil: no access log

	// Guarded by m.mu.
	addr     string
	bound    *binding
	released chan struct{} // closed when the server leaves its binding
	exitErr  error
}

func (s *server) Config() ServerConfig { return s.cfg }

func (s *server) SetRouter(r *Router) {
	s.router.Store(r)
	if r != nil {
		r.watch(s.m)
	}
	s.m.rebuild()
}

func (s *server) Listen(addr string) error {
	wait, err := s.m.bind(s, addr, nil, nil)
	if err != nil {
		return err
	}
	return wait()
}

func (s *server) ListenTLS(addr, certFile, keyFile string) error {
	return s.listenTLSOn(addr, nil, nil, certFile, keyFile)
}

func (s *server) Serve(ln net.Listener) error {
	wait, err := s.m.bind(s, ln.Addr().String(), nil, ln)
	if err != nil {
		return err
	}
	return wait()
}

func (s *server) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	var cfg *tls.Config
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("worker: load certificate %s: %w", certFile, err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil && !s.m.hasHostCerts(s) {
		return nil, fmt.Errorf("worker: listen TLS: no certificate")
	}
	return cfg, nil
}

func (s *server) IsRunning() bool {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.bound != nil
}

func (s *server) Protocol() string {
	switch {
	case s.cfg.EnableQUIC:
		return "HTTP/3"
	case s.cfg.EnableHTTP2:
		return "HTTP/2"
	default:
		return "HTTP/1.1"
	}
}

func (s *server) Addr() string {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.addr
}

// name is the server's label in metrics and errors; m.mu must be held.
func (s *server) name() string {
	if s.addr != "" {
		return s.addr
	}
	return fmt.Sprintf("server-%d", s.id)
}

func (s *server) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.cfg.ShutdownTimeout,
			fmt.Errorf("%w: shutdown_timeout %s passed", ErrShutdownTimeout, s.cfg.ShutdownTimeout))
		defer cancel()
	}
	return s.m.unbind(s, ctx)
}

func (s *server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.m.unbind(s, ctx)
	return nil
}
