package supervisor

import (
	"os"
	"sort"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// Status is what `rockstar status` and the admin /status endpoint show.
type Status struct {
	PID        int              `json:"pid"`
	Version    string           `json:"version"`
	Generation int              `json:"generation"`
	Started    time.Time        `json:"started"`
	Uptime     float64          `json:"uptime_seconds"`
	Config     string           `json:"config"`
	Listeners  []string         `json:"listeners"`
	Workers    []WorkerStatus   `json:"workers"`
	Draining   []WorkerStatus   `json:"draining,omitempty"`
	Restarts   int64            `json:"restarts"`
	Reloads    map[string]int64 `json:"reloads"`
	Hosts      []string         `json:"hosts"`
	Tenants    []string         `json:"tenants"`
	// Generations are the current generation of workers and those still
	// draining; Traffic the per-host and per-tenant rates (traffic.go).
	Generations []GenerationStatus `json:"generations"`
	Traffic     *Traffic           `json:"traffic,omitempty"`
}

// GenerationStatus is one generation of workers in Status.
type GenerationStatus struct {
	ID      int    `json:"id"`
	State   string `json:"state"` // "current" or "draining"
	Workers int    `json:"workers"`
}

// WorkerStatus is one worker's line in Status.
type WorkerStatus struct {
	Slot       int     `json:"slot"`
	PID        int     `json:"pid"`
	Generation int     `json:"generation"`
	State      string  `json:"state"`
	Uptime     float64 `json:"uptime_seconds"`
	Restarts   int     `json:"restarts"`
	Requests   uint64  `json:"requests"`
	Active     int64   `json:"active_connections"`
	// LastHealth is the age of the last health answer in seconds; -1 if none yet.
	LastHealth float64 `json:"last_health_seconds"`
	Missed     int     `json:"missed_health_checks"`
}

// Status reports the master and its workers.
func (m *Master) Status() Status {
	m.mu.Lock()
	st := Status{
		PID:       os.Getpid(),
		Version:   Build().Version,
		Started:   m.started,
		Uptime:    time.Since(m.started).Seconds(),
		Config:    m.cfg.Path,
		Listeners: m.sockets.listeners(),
		Restarts:  m.restarts.Load(),
		Reloads:   map[string]int64{},
	}
	for k, v := range m.reloads {
		st.Reloads[k] = v
	}
	for _, h := range m.cfg.Hosts {
		st.Hosts = append(st.Hosts, h.Hostname)
	}
	for _, t := range m.cfg.Tenants {
		st.Tenants = append(st.Tenants, t.ID)
	}
	cur, draining := m.cur, append([]*generation(nil), m.draining...)
	m.mu.Unlock()
	if cur != nil {
		st.Generation = cur.id
		st.Workers = cur.status()
		st.Generations = append(st.Generations, GenerationStatus{cur.id, "current", len(st.Workers)})
	}
	for _, g := range draining {
		ws := g.status()
		st.Draining = append(st.Draining, ws...)
		st.Generations = append(st.Generations, GenerationStatus{g.id, StateDraining, len(ws)})
	}
	st.Traffic = m.currentTraffic()
	return st
}

func (g *generation) status() []WorkerStatus {
	g.mu.Lock()
	slots := append([]*slot(nil), g.slots...)
	g.mu.Unlock()
	var out []WorkerStatus
	for _, s := range slots {
		s.mu.Lock()
		p, restarts := s.cur, s.restarts
		s.mu.Unlock()
		ws := WorkerStatus{Slot: s.index, Generation: g.id, State: StateStarting, Restarts: restarts, LastHealth: -1}
		if p != nil {
			p.mu.Lock()
			ws.PID, ws.State, ws.Missed = p.pid, p.state, p.missed
			ws.Uptime = time.Since(p.started).Seconds()
			if p.health != nil {
				ws.Requests, ws.Active = p.health.Requests, p.health.Active
				ws.LastHealth = time.Since(p.healthAt).Seconds()
			}
			p.mu.Unlock()
		}
		out = append(out, ws)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// Ready reports whether every current worker is ready and none drains.
func (m *Master) Ready() bool {
	m.mu.Lock()
	cur, draining := m.cur, len(m.draining)
	m.mu.Unlock()
	if cur == nil || draining > 0 {
		return false
	}
	for _, w := range cur.status() {
		if w.State != StateReady {
			return false
		}
	}
	return true
}

// Worker states, as status shows them (WorkerStatus.State): the
// contract's (wire), named here too for the API's users.
const (
	StateStarting = wire.StateStarting
	StateReady    = wire.StateReady
	StateDraining = wire.StateDraining
	StateExited   = wire.StateExited
)
