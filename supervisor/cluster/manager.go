package cluster

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// ProbeInterval is how often a Manager tries Redis again while it is away.
const ProbeInterval = 100 * time.Millisecond

// HeartbeatInterval is the longest a Manager with cluster limits goes
// without a round trip: when none needs tokens, it asks Redis for none,
// so that Redis going away is seen (and the limits fall back) before the
// next request needs it.
const HeartbeatInterval = 250 * time.Millisecond

// Options configures a Manager; zero fields take the defaults noted.
type Options struct {
	// Window is the lease window (cluster.lease_window): a busy machine
	// holds rate × Window tokens of a limit. Default
	// config.DefaultClusterLeaseWindow.
	Window time.Duration
	// Machines is cluster.machines: with Redis away, a limit of policy
	// "local" admits its rate and burst ÷ Machines. Default 1.
	Machines int
	// Timeout bounds one round trip to Redis (cluster.timeout). Default
	// config.DefaultClusterTimeout.
	Timeout time.Duration
	// Log receives a line when Redis goes away or comes back, and one
	// per limit that changes mode then. Default: none.
	Log zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// OptionsFor returns the Options of a [cluster] section.
func OptionsFor(c config.Cluster, log zerolog.Logger) Options {
	return Options{Window: c.LeaseWindow, Machines: c.Machines, Timeout: c.Timeout, Log: log}
}

// Manager leases the tokens of this machine's cluster-scoped limits from
// a Store into their buckets in shared memory, where the workers spend
// them. One goroutine (Start; Close waits for it) runs a round every
// quarter window on average: one round trip for every limit that needs
// one, none for the others. See the package doc for the bound this keeps.
type Manager struct {
	store Store
	opts  Options
	tick  time.Duration

	round sync.Mutex // one round at a time: the loop's, or Set's
	mu    sync.Mutex // guards what follows
	lim   map[string]*leased
	down  bool
	probe time.Time // with down: the next try
	trip  time.Time // the last round trip
	// paused: a binary upgrade handed the buckets to a new master, which
	// leases them from now on.
	paused bool

	up         atomic.Bool
	fallbacks  atomic.Uint64
	roundTrips atomic.Uint64
	failures   atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewManager returns a Manager of store's buckets; Start runs it.
func NewManager(store Store, o Options) *Manager {
	if o.Window <= 0 {
		o.Window = config.DefaultClusterLeaseWindow
	}
	if o.Machines <= 0 {
		o.Machines = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = config.DefaultClusterTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{store: store, opts: o, tick: max(o.Window/4, time.Millisecond), lim: make(map[string]*leased), stop: make(chan struct{})}
	m.up.Store(true)
	return m
}

// Start runs the rounds in the background until Close.
func (m *Manager) Start() {
	m.wg.Go(func() {
		// Each pause is a tick ± half, at random: two saturated machines
		// whose rounds kept one phase would split the tokens as their
		// phases fall (the first after the other takes what little
		// accrued since), not evenly.
		t := time.NewTimer(m.jitter())
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.Round()
				t.Reset(m.jitter())
			}
		}
	})
}

// jitter is the pause before the next round: a tick ± half.
func (m *Manager) jitter() time.Duration { return m.tick/2 + rand.N(m.tick) }

// Close stops the rounds, waits for the last, and gives back every token
// the buckets still hold (unless Pause handed them on): the workers must
// be gone.
func (m *Manager) Close() {
	select {
	case <-m.stop:
		return
	default:
		close(m.stop)
	}
	m.wg.Wait()
	m.round.Lock()
	defer m.round.Unlock()
	m.mu.Lock()
	var ops []Op
	if !m.paused && !m.down {
		for _, s := range m.lim {
			if n := s.Bucket.Tokens.Swap(0); n > 0 {
				ops = append(ops, Op{Key: s.key, Interval: s.interval, Tolerance: s.tolerance, Return: n})
			}
		}
	}
	m.mu.Unlock()
	if len(ops) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
		_, _ = m.store.Lease(ctx, ops)
		cancel()
	}
}

// Pause stops (true) or resumes (false) the rounds: a binary upgrade's old
// master pauses once it handed its buckets to the new one, and resumes if
// the upgrade failed.
func (m *Manager) Pause(p bool) {
	m.mu.Lock()
	m.paused = p
	m.mu.Unlock()
}

// Set makes ls this machine's cluster limits: a limit of a known ID keeps
// its state, a new one gets its first lease before Set returns (at most
// Timeout), and one not in ls is forgotten; its bucket is the caller's to
// free, and the tokens in it are lost (the cluster admits less, never
// more).
func (m *Manager) Set(ls []Limit) {
	now := m.opts.Now()
	m.mu.Lock()
	keep := make(map[string]bool, len(ls))
	var fresh []*leased
	for _, l := range ls {
		keep[l.ID] = true
		if _, ok := m.lim[l.ID]; ok {
			continue
		}
		s := newLeased(l, m.opts.Window, now)
		l.Bucket.Machines.Store(int64(m.opts.Machines))
		if m.down {
			m.fallBack(s)
		}
		m.lim[l.ID] = s
		fresh = append(fresh, s)
	}
	for id, s := range m.lim {
		if !keep[id] {
			s.gone = true
			delete(m.lim, id)
		}
	}
	down := m.down
	m.mu.Unlock()
	if len(fresh) > 0 && !down {
		m.run(fresh, now)
	}
}

// Round runs one round: every limit that needs tokens, or has some to
// give back, in one round trip; with Redis away, a probe every
// ProbeInterval.
func (m *Manager) Round() {
	m.run(nil, m.opts.Now())
}

// run is a round over only (nil: every limit).
func (m *Manager) run(only []*leased, now time.Time) {
	m.round.Lock()
	defer m.round.Unlock()
	m.mu.Lock()
	if m.paused {
		m.mu.Unlock()
		return
	}
	probe := m.down
	if probe && now.Before(m.probe) {
		m.mu.Unlock()
		return
	}
	if only == nil {
		for _, s := range m.lim {
			only = append(only, s)
		}
	}
	var ops []Op
	var of []*leased
	for _, s := range only {
		if op, ok := s.plan(now, m.opts.Window, probe); ok {
			ops, of = append(ops, op), append(of, s)
		}
	}
	if len(ops) == 0 && len(only) > 0 && now.Sub(m.trip) >= HeartbeatInterval {
		s := only[0] // a heartbeat: an op that takes and gives nothing
		ops, of = append(ops, Op{Key: s.key, Interval: s.interval, Tolerance: s.tolerance}), append(of, s)
	}
	m.mu.Unlock()
	if len(ops) == 0 {
		return
	}
	m.mu.Lock()
	m.trip = now
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	grants, err := m.store.Lease(ctx, ops)
	cancel()
	m.roundTrips.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failures.Add(1)
		m.lost(err, now)
		return
	}
	if m.down {
		m.down = false
		m.up.Store(true)
		m.opts.Log.Warn().Msg("cluster: redis is back; cluster limits are exact again")
	}
	for i, s := range of {
		if s.gone {
			continue
		}
		s.credit(grants[i], ops[i].Take, now)
		if s.failed {
			s.failed = false
			s.Bucket.Mode.Store(wire.ModeLease)
			m.opts.Log.Info().Str("scope", s.Scope).Str("name", s.Name).Msg("cluster: limit leases from redis again")
		}
	}
}

// lost handles a round that did not reach Redis: every limit falls back
// to its policy, until a probe gets through.
func (m *Manager) lost(err error, now time.Time) {
	m.probe = now.Add(ProbeInterval)
	if !m.down {
		m.down = true
		m.up.Store(false)
		m.opts.Log.Error().Err(err).Msg("cluster: redis unreachable; cluster limits fall back to their on_cluster_failure policy")
	}
	for _, s := range m.lim {
		if !s.failed {
			m.fallBack(s)
		}
	}
}

// fallBack puts s in its failure mode; the tokens it held are dropped,
// since Redis cannot be told.
func (m *Manager) fallBack(s *leased) {
	s.failed = true
	m.fallbacks.Add(1)
	b := s.Bucket
	ev := m.opts.Log.Warn().Str("scope", s.Scope).Str("name", s.Name)
	if s.Deny {
		b.Mode.Store(wire.ModeDeny)
		ev.Msg("cluster: redis unreachable; limit denies every request until it is back")
	} else {
		b.Machines.Store(int64(m.opts.Machines))
		b.Mode.Store(wire.ModeLocal)
		ev.Int("machines", m.opts.Machines).Msg("cluster: redis unreachable; limit falls back to this machine's share")
	}
	b.Tokens.Store(0)
	s.prev = 0
}

// Stats is what a Manager counts, for /metrics.
type Stats struct {
	// Up: the last round trip reached Redis (or none was needed yet).
	Up bool
	// Limits is the number of cluster limits; Fallback of them are in
	// their failure mode now.
	Limits, Fallback int
	// Fallbacks counts the times a limit fell back to its failure mode.
	Fallbacks uint64
	// RoundTrips and Failures count the round trips to Redis, and those
	// that failed.
	RoundTrips, Failures uint64
}

// Stats returns the counts so far.
func (m *Manager) Stats() Stats {
	st := Stats{Up: m.up.Load(), Fallbacks: m.fallbacks.Load(), RoundTrips: m.roundTrips.Load(), Failures: m.failures.Load()}
	m.mu.Lock()
	st.Limits = len(m.lim)
	for _, s := range m.lim {
		if s.failed {
			st.Fallback++
		}
	}
	m.mu.Unlock()
	return st
}
