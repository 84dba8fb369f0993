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
// none draining; 503 otherwise), /status (JSON) and /metrics. It returns
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
	mux.HandleFunc("GET /metrics", m.serveMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.wg.Go(func() { _ = srv.Serve(ln) })
	m.log.Info().Str("listen", ln.Addr().String()).Msg("admin endpoint listening")
	return srv
}

// serveMetrics writes the supervisor's own counters in Prometheus text.
func (m *Master) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	st := m.Status()
	states := map[string]int{StateStarting: 0, StateReady: 0, StateDraining: 0}
	for _, ws := range append(st.Workers, st.Draining...) {
		states[ws.State]++
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP rockstar_workers Worker processes by state.")
	fmt.Fprintln(w, "# TYPE rockstar_workers gauge")
	for _, s := range []string{StateStarting, StateReady, StateDraining} {
		fmt.Fprintf(w, "rockstar_workers{state=%q} %d\n", s, states[s])
	}
	fmt.Fprintln(w, "# HELP rockstar_worker_restarts_total Unexpected worker exits that were restarted.")
	fmt.Fprintln(w, "# TYPE rockstar_worker_restarts_total counter")
	fmt.Fprintf(w, "rockstar_worker_restarts_total %d\n", st.Restarts)
	fmt.Fprintln(w, "# HELP rockstar_config_reloads_total Config reloads by result.")
	fmt.Fprintln(w, "# TYPE rockstar_config_reloads_total counter")
	for _, r := range []string{"success", "failure"} {
		fmt.Fprintf(w, "rockstar_config_reloads_total{result=%q} %d\n", r, st.Reloads[r])
	}
	m.writeUpstreamMetrics(w)
}
