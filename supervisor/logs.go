package supervisor

import (
	"context"
	"time"
)

// reopenLogs asks every worker to reopen its access log (USR1), for log
// rotation. The master itself logs to stderr, which it does not reopen.
func (m *Master) reopenLogs() {
	m.mu.Lock()
	g := m.cur
	m.mu.Unlock()
	if g == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range g.procs() {
		if _, err := p.request(ctx, msgReopen, nil); err != nil {
			m.log.Warn().Err(err).Int("slot", p.slot).Msg("reopen logs")
		}
	}
	m.log.Info().Msg("log files reopened")
}
