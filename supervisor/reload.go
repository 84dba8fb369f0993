package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// Reload re-reads and validates the config. A bad config changes nothing
// and is returned. If only hosts, tenants or limits changed, the workers
// apply it in place; if listeners or worker settings changed, a new
// generation starts and the old one drains within shutdown_timeout.
func (m *Master) Reload() (err error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	began := false // RELOADING=1 was said
	defer func() {
		m.mu.Lock()
		if err != nil {
			m.reloads["failure"]++
		} else {
			m.reloads["success"]++
		}
		m.mu.Unlock()
		if err != nil {
			m.log.Error().Err(err).Msg("reload failed; still serving the old config")
		}
		switch {
		case !began:
		case err != nil:
			m.sd.reloaded("reload failed, still serving the old config: " + err.Error() + "; " + m.systemdStatus())
		default:
			m.sd.reloaded(m.systemdStatus())
		}
	}()
	if m.stopping() {
		return ErrStopped
	}
	// systemd (Type=notify-reload) waits for RELOADING=1 and then READY=1,
	// which it gets whatever the outcome: a failed reload leaves the old
	// config serving.
	m.sd.reloading()
	began = true
	next, err := config.Load(m.opts.ConfigPath)
	if err != nil {
		return err
	}
	m.mu.Lock()
	old, g := m.cfg, m.cur
	m.mu.Unlock()
	change := config.Diff(old, next)
	if err := m.acmeFor(next, change.ACME); err != nil {
		return err
	}
	if err := m.reconfigureCluster(next); err != nil {
		return err
	}
	switch {
	case change.NewGeneration():
		err = m.replaceGeneration(next, workerCount(next))
	case change.Hosts:
		err = m.push(g, next)
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cfg = next
	m.mu.Unlock()
	m.upstreams.update(next)
	m.acmeManager().update(next)
	if err := m.startPurges(next.Cluster); err != nil {
		m.log.Error().Err(err).Msg("reload: cache purges across machines keep the old [cluster]")
	}
	m.log.Info().Bool("new_generation", change.NewGeneration()).Bool("hosts", change.Hosts).Msg("reloaded")
	return nil
}

// push sends cfg to every worker of g and waits for all to apply it.
func (m *Master) push(g *generation, cfg *config.Config) error {
	body, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	lim, err := m.pushingLimits(g, cfg)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.cfg = cfg // workers restarted from now on get the new config
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	procs := g.procs()
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() {
			if errs[i] = m.pushLimits(ctx, p, lim); errs[i] == nil {
				_, errs[i] = p.request(ctx, wire.MsgConfig, json.RawMessage(body))
			}
			if errors.Is(errs[i], errWorkerGone) {
				errs[i] = nil // it restarts with the new config
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("supervisor: push config: %w", err)
	}
	m.limitsApplied(g, lim)
	return nil
}

// replaceGeneration starts a generation of n workers from cfg; once all are
// ready it becomes the current one and the old one drains in the
// background. If the new one fails to get ready, it is stopped and the old
// one keeps serving.
func (m *Master) replaceGeneration(cfg *config.Config, n int) error {
	g2, err := m.startGeneration(cfg, n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), m.opts.ReadyTimeout,
		fmt.Errorf("supervisor: new workers not ready after %s", m.opts.ReadyTimeout))
	err = g2.waitReady(ctx)
	cancel()
	if err != nil {
		m.retire(g2, false, 2*time.Second)
		m.collectLimits()
		return err
	}
	m.mu.Lock()
	old := m.cur
	m.cur = g2
	m.draining = append(m.draining, old)
	keep := make(map[string]bool)
	for _, s := range cfg.Servers {
		keep[s.Listen] = true
	}
	timeout := cfg.Supervisor.ShutdownTimeout
	m.mu.Unlock()
	m.log.Info().Int("generation", g2.id).Int("workers", n).Msg("new generation ready; draining the old one")
	m.wg.Go(func() {
		m.retire(old, true, timeout)
		m.mu.Lock()
		for i, d := range m.draining {
			if d == old {
				m.draining = append(m.draining[:i], m.draining[i+1:]...)
				break
			}
		}
		// Addresses the new config dropped: nobody uses their sockets now.
		if len(m.draining) == 0 && m.cur != nil {
			m.sockets.closeExcept(keep)
		}
		m.mu.Unlock()
		m.collectLimits()
		m.log.Info().Int("generation", old.id).Msg("old generation drained")
	})
	return nil
}

// Scale adds (+1) or removes (-1) one worker, never going below one. One
// more starts a worker in a new slot of the current generation; one fewer
// starts a generation of n-1 workers that also serves the retired slot's
// sockets (closing them would reset the connections queued on them).
func (m *Master) Scale(delta int) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.stopping() {
		return ErrStopped
	}
	m.mu.Lock()
	g, cfg := m.cur, m.cfg
	m.mu.Unlock()
	g.mu.Lock()
	n := len(g.slots)
	g.mu.Unlock()
	switch {
	case delta > 0:
		m.mu.Lock()
		for _, s := range cfg.Servers {
			if err := m.sockets.ensure(s.Listen, n+1); err != nil {
				m.mu.Unlock()
				m.log.Error().Err(err).Msg("cannot add a worker")
				return err
			}
		}
		g.n = max(g.n, n+1)
		m.mu.Unlock()
		m.addSlot(g, n)
		m.log.Info().Int("workers", n+1).Msg("added a worker")
		return nil
	case delta < 0 && n > 1:
		err := m.replaceGeneration(cfg, n-1)
		if err != nil {
			m.log.Error().Err(err).Msg("cannot remove a worker")
		}
		return err
	case delta < 0:
		m.log.Warn().Int("workers", n).Msg("not removing the last worker")
	}
	return nil
}
