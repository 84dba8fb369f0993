package supervisor

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// startAdmin serves the admin endpoint on admin.listen (loopback by
// default): /healthz (the master is alive), /readyz (every worker ready,
// none draining; 503 otherwise), /status (JSON), /status/ (a live HTML
// page of it, statuspage.go) and /metrics (Prometheus, metrics.go). It returns
// nil when admin is off or cannot listen (which is logged).
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.wg.Go(func() { _ = srv.Serve(ln) })
	m.log.Info().Str("listen", ln.Addr().String()).Msg("admin endpoint listening")
	return srv
}
