package supervisor

import (
	"context"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// Every lifecycle log line, the master's and the workers', carries each of
// these keys at most once and always with the same JSON type:
//
//	role        "master" or "worker": the process that logged
//	pid         number: the pid of the process that logged
//	slot        number: the worker slot (a worker's own, or the one a master line is about)
//	generation  number: the generation (likewise)
//	worker_pid  number: in master lines, the pid of the worker the line is about
//	worker_pids array of numbers: in the master's "ready" line
//	workers     number: a count of workers
//	listeners   array of strings: in the master's "ready" line
//	servers     number: in a worker's "worker ready" line
//
// TestLogKeysOncePerLineOneType holds every line to this.
const logWorkerPID = "worker_pid"

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
		if _, err := p.request(ctx, wire.MsgReopen, nil); err != nil {
			m.log.Warn().Err(err).Int("slot", p.slot).Msg("reopen logs")
		}
	}
	m.log.Info().Msg("log files reopened")
}
