package supervisor

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	xnetutil "golang.org/x/net/netutil"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// Fixed bounds of the admin endpoint's connections; admin.idle_timeout and
// admin.max_connections are configurable.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 30 * time.Second
)

// startAdmin serves the admin endpoint on admin.listen (loopback by
// default): /healthz (the master is alive), /readyz (every worker ready,
// none draining; 503 otherwise), /status (JSON), /status/ (a live HTML
// page of it, statuspage.go) and /metrics (Prometheus, metrics.go). It returns
// nil when admin is off or cannot listen (which is logged).
//
// A request is read within 10 s (its header within 5 s), its answer
// written within 30 s, and a keep-alive connection closed after
// admin.idle_timeout idle; at most admin.max_connections are served at once
// (the others wait in the kernel's accept queue, holding none of the
// master's descriptors). A request whose Host is not the endpoint's (an
// IP address, localhost, admin.listen's host or one of admin.hosts) gets
// 421 Misdirected Request, so that a web page whose name was rebound to
// 127.0.0.1 cannot read /status or /metrics.
//
// Every endpoint but /v1 is read-only (GET and HEAD; other methods get
// 405). /v1, the runtime API (api.go), is served only with the bearer
// token of admin.token_file and refused (403) without one configured, so
// admin.listen may be any address, 0.0.0.0 included.
func (m *Master) startAdmin(cfg *config.Config) *http.Server {
	if cfg.Admin.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		m.log.Error().Err(err).Str("listen", cfg.Admin.Listen).Msg("admin endpoint: cannot listen")
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(m.Status())
	})
	mux.Handle("GET /metrics", m.metricsHandler(m.writeUpstreamMetrics))
	mux.HandleFunc("GET /status/{$}", serveStatusPage)
	mux.Handle("/v1/", m.serveAPI(m.adminToken))
	srv := &http.Server{
		Handler:           checkAdminHost(adminNames(cfg.Admin), mux),
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       cfg.Admin.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
	// Connections past the limit wait unaccepted in the kernel's queue.
	limited := xnetutil.LimitListener(ln, max(cfg.Admin.MaxConnections, 1))
	m.wg.Go(func() { _ = srv.Serve(limited) })
	m.log.Info().Str("listen", ln.Addr().String()).Msg("admin endpoint listening")
	return srv
}

// adminNames are the host names the admin endpoint answers to besides IP
// addresses: localhost, admin.listen's host and admin.hosts, lower case.
func adminNames(a config.Admin) map[string]bool {
	names := map[string]bool{"localhost": true}
	if h, _, err := net.SplitHostPort(a.Listen); err == nil && h != "" {
		names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	for _, h := range a.Hosts {
		names[h] = true
	}
	return names
}

// checkAdminHost answers 421 to a request whose Host adminHostAllowed
// refuses.
func checkAdminHost(names map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !adminHostAllowed(r.Host, names) {
			http.Error(w, "misdirected request: the admin endpoint answers to an IP address, localhost, its listen host or admin.hosts",
				http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminHostAllowed reports whether host (a Host header, with or without a
// port) names the admin endpoint: an IP address (a browser sends one only
// for a page loaded from that very address, so DNS rebinding cannot
// produce it) or one of names. A request without Host (HTTP/1.0) passes;
// browsers always send one.
func adminHostAllowed(host string, names map[string]bool) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	h = strings.TrimSuffix(h, ".")
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return names[strings.ToLower(h)]
}
