package child

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// roots keeps the static-file roots a worker has open, by directory, so a
// config push reuses them and closes the ones no host uses any more.
type roots struct {
	open map[string]*os.Root
	// proxies are the proxy hosts' proxies (proxies.go).
	proxies proxySet
	// caches are the cached hosts' response caches (cache.go).
	caches cacheSet
	// acme answers HTTP-01 for the hosts that may have ACME certificates;
	// nil without a TLS listener.
	acme *acmeCerts
}

// hostConfigs turns the config's hosts and tenants into the worker
// package's, opening static roots with os.OpenRoot so that no path (or
// symlink) leads outside them.
func (r *roots) hostConfigs(cfg *config.Config) ([]worker.HostConfig, []worker.TenantConfig, error) {
	used := make(map[string]*os.Root)
	var hosts []worker.HostConfig
	for _, h := range cfg.Hosts {
		hc := worker.HostConfig{Hostname: h.Hostname, TenantID: h.Tenant}
		if h.Root != "" {
			root, ok := used[h.Root]
			if !ok {
				if root, ok = r.open[h.Root]; !ok {
					var err error
					if root, err = os.OpenRoot(h.Root); err != nil {
						r.closeUnused(used, true)
						return nil, nil, fmt.Errorf("child: host %s: root: %w", h.Hostname, err)
					}
				}
				used[h.Root] = root
			}
			hc.VirtualFS = rootFS{root}
			hc.ServeDotfiles = h.Dotfiles
			hc.NoPrecompressed, hc.NoCompression = !h.Precompressed, !h.Compression
			hc.CacheControl, hc.Fallback = h.CacheControl, h.Fallback
		}
		if h.Respond != "" {
			hc.Middleware = []worker.MiddlewareFunc{respond(h.RespondStatus, h.ContentType, h.Respond)}
			hc.Inline = true             // a fixed answer never blocks: the event loop serves it
			hc.DiscardRequestBody = true // nor reads a body: a chunked one is dropped as it comes
		}
		if h.RateLimit != nil {
			hc.RateLimits = h.RateLimit.Worker()
		}
		if len(h.Headers) > 0 {
			hc.SecurityConfig = &worker.ServerSecurityConfig{Headers: h.Headers}
		}
		if h.TLSCert != "" { // picked by SNI on TLS listeners
			if hc.SecurityConfig == nil {
				hc.SecurityConfig = &worker.ServerSecurityConfig{}
			}
			hc.SecurityConfig.CertFile, hc.SecurityConfig.KeyFile = h.TLSCert, h.TLSKey
		}
		if err := r.proxies.attach(&hc, &h); err != nil {
			r.closeUnused(used, true)
			return nil, nil, fmt.Errorf("child: host %s: proxy: %w", h.Hostname, err)
		}
		r.caches.attach(cfg, &hc, &h)
		if r.acme != nil && r.acme.names.Load().allowed(h.Hostname) {
			hc.Middleware = append([]worker.MiddlewareFunc{r.acme.httpChallenge}, hc.Middleware...)
		}
		hosts = append(hosts, hc)
	}
	var tenants []worker.TenantConfig
	for _, t := range cfg.Tenants {
		tc := worker.TenantConfig{ID: t.ID, Hosts: t.Hosts}
		if t.RateLimit != nil {
			tc.RateLimits = t.RateLimit.Worker()
		}
		tenants = append(tenants, tc)
	}
	r.proxies.sweep(cfg)
	r.caches.sweep(cfg)
	r.closeUnused(used, false)
	r.open = used
	return hosts, tenants, nil
}

// closeUnused closes the open roots that used does not hold; on failure
// (discard) it closes the ones that were opened for the failed config.
func (r *roots) closeUnused(used map[string]*os.Root, discard bool) {
	if discard {
		for dir, root := range used {
			if r.open[dir] != root {
				root.Close()
			}
		}
		return
	}
	for dir, root := range r.open {
		if used[dir] != root {
			root.Close()
		}
	}
}

// respond answers every request with a fixed status and body, like nginx's
// return directive.
func respond(status int, contentType, body string) worker.MiddlewareFunc {
	if status == 0 {
		status = config.DefaultRespondStatus
	}
	if contentType == "" {
		contentType = config.DefaultContentType
	}
	b := []byte(body)
	return func(fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(status)
			ctx.SetContentType(contentType)
			ctx.SetBody(b)
		}
	}
}

// serverConfig maps a [[server]] to the proxy package's config.
func serverConfig(s config.Server, accessLog io.Writer, accessFormat string) worker.ServerConfig {
	return worker.ServerConfig{
		ReadTimeout:     s.ReadTimeout,
		WriteTimeout:    s.WriteTimeout,
		IdleTimeout:     s.IdleTimeout,
		MaxHeaderBytes:  s.MaxHeaderBytes,
		MaxConnections:  s.MaxConnections,
		MaxRequestSize:  s.MaxRequestSize,
		EnableHTTP1:     true,
		EnableHTTP2:     s.Serves(config.ProtocolHTTP2) || s.Serves(config.ProtocolH2C),
		EnableQUIC:      s.Serves("http3"),
		AccessLog:       accessLog,
		AccessLogFormat: accessFormat,
		// DisableEventLoop: the loop serves respond hosts (Inline above).
		DisableEventLoop: !s.EventLoop,
		TrustedProxies:   s.TrustedProxies,
		RealIPHeader:     s.RealIPHeader,
		ProxyProtocol:    s.ProxyProtocol,
	}
}

// checkTLS loads a TLS server's certificate pair, so that a worker that
// cannot serve it fails at once, saying why.
func checkTLS(s config.Server) error {
	if s.TLSCert == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey); err != nil {
		return fmt.Errorf("child: server %s: certificate: %w", s.Listen, err)
	}
	return nil
}

// reopenableFile is an access log that USR1 can reopen after rotation.
type reopenableFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openLog(path string) (*reopenableFile, error) {
	r := &reopenableFile{path: path}
	return r, r.Reopen()
}

func (r *reopenableFile) Reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("child: access log: %w", err)
	}
	r.mu.Lock()
	old := r.f
	r.f = f
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (r *reopenableFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Write(p)
}
