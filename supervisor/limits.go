package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// The master's part of the shared region's life (see shared.go): which
// bucket each limit uses, per generation; the region's fd and a counters
// area for every worker it starts; the "limits" message.

// assignLimits gives g's workers the buckets of cfg's limits.
func (m *Master) assignLimits(g *generation, cfg *config.Config) error {
	if m.shared == nil {
		return nil
	}
	lim, err := m.shared.assign(cfg)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.limits, g.limitSets = lim, [][]wire.LimitSlot{lim}
	g.mu.Unlock()
	m.syncCluster(lim)
	return nil
}

// shareRegion adds the region's fd to a worker's inherited files, and
// returns the counters area the worker is to use (-1 without a region).
func (m *Master) shareRegion(files []*os.File, specs []netutil.FDSpec) (int, []*os.File, []netutil.FDSpec) {
	if m.shared == nil {
		return -1, files, specs
	}
	files = append(files, m.shared.r.File())
	specs = append(specs, netutil.FDSpec{Kind: string(wire.FDShared), FD: 2 + len(files)})
	return m.shared.acquireArea(), files, specs
}

// releaseArea gives back the area of a worker that did not start.
func (m *Master) releaseArea(area int) {
	if area >= 0 {
		m.shared.releaseArea(area)
	}
}

// releaseAreaOnExit gives back p's area once p has exited. The goroutine
// ends with p, which Run waits for before it waits for m.wg.
func (m *Master) releaseAreaOnExit(p *proc, area int) {
	if area < 0 {
		return
	}
	m.wg.Go(func() {
		<-p.exited
		m.shared.releaseArea(area)
	})
}

// sendLimits sends g's limit assignment to a worker it just started,
// right after the config.
func (m *Master) sendLimits(p *proc, g *generation) error {
	if m.shared == nil {
		return nil
	}
	g.mu.Lock()
	body, err := json.Marshal(wire.LimitsBody{Limits: g.limits})
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return p.send(&netutil.Message{Type: wire.MsgLimits, Body: body})
}

// pushingLimits assigns buckets for a config about to be pushed to g. Until
// limitsApplied, g's workers may use the old assignment or the new one, so
// both stay live.
func (m *Master) pushingLimits(g *generation, cfg *config.Config) ([]wire.LimitSlot, error) {
	if m.shared == nil {
		return nil, nil
	}
	lim, err := m.shared.assign(cfg)
	if err != nil {
		return nil, fmt.Errorf("supervisor: push config: %w", err)
	}
	g.mu.Lock()
	g.limits = lim
	g.limitSets = append(g.limitSets, lim)
	g.mu.Unlock()
	m.syncCluster()
	return lim, nil
}

// pushLimits tells a running worker about lim, before the config that uses it.
func (m *Master) pushLimits(ctx context.Context, p *proc, lim []wire.LimitSlot) error {
	if m.shared == nil {
		return nil
	}
	_, err := p.request(ctx, wire.MsgLimits, wire.LimitsBody{Limits: lim})
	return err
}

// limitsApplied records that every worker of g now uses lim, and frees
// what nobody uses any more.
func (m *Master) limitsApplied(g *generation, lim []wire.LimitSlot) {
	if m.shared == nil {
		return
	}
	g.mu.Lock()
	g.limitSets = [][]wire.LimitSlot{lim}
	g.mu.Unlock()
	m.collectLimits()
}

// collectLimits frees the buckets and tables that no generation still
// running may use.
func (m *Master) collectLimits() {
	if m.shared == nil {
		return
	}
	m.mu.Lock()
	gens := append([]*generation{m.cur}, m.draining...)
	m.mu.Unlock()
	var live [][]wire.LimitSlot
	for _, g := range gens {
		if g == nil {
			continue
		}
		g.mu.Lock()
		live = append(live, g.limitSets...)
		g.mu.Unlock()
	}
	m.syncCluster() // before the buckets it forgets are freed
	m.shared.collect(live)
}
