package supervisor

import (
	"context"
	"sync"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// maxMissed is how many health probes in a row a worker may miss before it
// counts as hung and is killed (its slot restarts it), like gunicorn's timeout.
const maxMissed = 3

// healthLoop probes every ready worker of the current generation each
// HealthInterval, until the master stops.
func (m *Master) healthLoop() {
	t := time.NewTicker(m.opts.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
			m.mu.Lock()
			g := m.cur
			m.mu.Unlock()
			if g != nil {
				m.probe(g.procs())
			}
		}
	}
}

// probe asks each worker for its health, concurrently, with a deadline of
// one interval; a miss counts against the worker.
func (m *Master) probe(procs []*proc) {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.HealthInterval)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.getState() != StateReady {
			continue
		}
		wg.Go(func() {
			r, err := p.request(ctx, wire.MsgHealth, nil)
			if err == nil {
				p.recordHealth(r)
				return
			}
			p.mu.Lock()
			p.missed++
			missed := p.missed
			p.mu.Unlock()
			if missed >= maxMissed && p.getState() == StateReady {
				m.log.Error().Int("slot", p.slot).Int(logWorkerPID, p.pid).Int("missed", missed).
					Msg("worker hung: missed health checks; killing it")
				p.kill()
			}
		})
	}
	wg.Wait()
}
