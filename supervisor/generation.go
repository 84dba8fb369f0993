package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// Crash-restart backoff: the first unexpected exit is restarted at once,
// the next ones after 100 ms, 200 ms, ... up to 30 s. A worker that stayed
// up for healthyAfter resets the count.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = 30 * time.Second
	healthyAfter = time.Minute
)

// backoff is the wait before restarting after the n-th crash in a row.
func backoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := backoffMin
	for i := 2; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// generation is one set of workers started from one config. A reload that
// changes listeners or the worker count starts a new generation and
// retires the old one; TTIN adds a slot to the current one.
type generation struct {
	id     int
	cfg    *config.Config
	n      int // worker count when it started; slots may grow by TTIN
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the slot runners

	mu    sync.Mutex
	slots []*slot
	// limits is where the config's limits keep their state in the shared
	// region, sent to every worker started; limitSets are all the
	// assignments its workers may be using (more than one during a push).
	limits    []wire.LimitSlot
	limitSets [][]wire.LimitSlot
	// cache is the response cache memory its workers map (cachemem.go);
	// nil when its config caches nothing. Released when it is retired.
	cache *cacheMem
}

// slot runs one worker of a generation and restarts it when it crashes.
type slot struct {
	index int
	mu    sync.Mutex
	cur   *proc
	// restarts counts unexpected exits; crashes counts them in a row.
	restarts, crashes int
}

func (s *slot) current() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// procs returns the current process of every slot (nil while restarting).
func (g *generation) procs() []*proc {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*proc, 0, len(g.slots))
	for _, s := range g.slots {
		if p := s.current(); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// openSockets opens the sockets cfg's servers need for n workers. If one
// cannot be opened (another process listens there), the sockets it opened
// for addresses that no running generation serves are closed again, so
// that a failed reload leaves nothing listening that nobody answers.
func (m *Master) openSockets(cfg *config.Config, n int) error {
	m.mu.Lock()
	var err error
	for _, srv := range cfg.Servers {
		m.sockets.wantUDP(srv.Listen, srv.Serves(config.ProtocolHTTP3))
		if err = m.sockets.ensure(srv.Listen, n); err != nil {
			break
		}
	}
	gens := append([]*generation{m.cur}, m.draining...)
	m.mu.Unlock()
	if err == nil {
		return nil
	}
	keep := make(map[string]bool) // address -> served with HTTP/3
	for _, g := range gens {
		if g == nil {
			continue
		}
		g.mu.Lock()
		for _, srv := range g.cfg.Servers {
			keep[srv.Listen] = keep[srv.Listen] || srv.Serves(config.ProtocolHTTP3)
		}
		g.mu.Unlock()
	}
	m.mu.Lock()
	for addr, http3 := range keep {
		m.sockets.wantUDP(addr, http3) // as the running workers use them
		keep[addr] = true
	}
	m.sockets.closeExcept(keep)
	m.mu.Unlock()
	return err
}

// startGeneration opens what sockets it needs and starts n workers.
func (m *Master) startGeneration(cfg *config.Config, n int) (*generation, error) {
	if err := m.openSockets(cfg, n); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.nextGen++
	g := &generation{id: m.nextGen, cfg: cfg, n: n}
	m.mu.Unlock()
	if err := m.assignLimits(g, cfg); err != nil {
		return nil, err
	}
	var err error
	if g.cache, err = m.caches.acquire(cfg); err != nil {
		return nil, err
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for i := 0; i < n; i++ {
		m.addSlot(g, i)
	}
	return g, nil
}

// addSlot starts the runner of slot i in g.
func (m *Master) addSlot(g *generation, i int) {
	s := &slot{index: i}
	g.mu.Lock()
	g.slots = append(g.slots, s)
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		m.runSlot(g, s)
	}()
}

// runSlot starts the slot's worker and restarts it after every unexpected
// exit, with backoff, until the generation is retired.
func (m *Master) runSlot(g *generation, s *slot) {
	for {
		p, err := m.spawn(g, s.index)
		if err != nil {
			m.log.Error().Err(err).Int("slot", s.index).Msg("cannot start worker")
		} else {
			s.mu.Lock()
			s.cur = p
			s.mu.Unlock()
			if g.ctx.Err() != nil {
				// Retired while this one was starting: retire missed it.
				p.retire()
				p.signal(syscall.SIGTERM)
				stopOrKill(p, 5*time.Second)
				return
			}
			<-p.exited
			if g.ctx.Err() != nil || p.isRetiring() {
				return
			}
			m.log.Warn().Int("slot", s.index).Int(logWorkerPID, p.pid).Int("generation", g.id).
				Str("exit", exitString(p.exitErr)).Msg("worker exited unexpectedly; restarting")
		}
		s.mu.Lock()
		if p != nil && time.Since(p.started) >= healthyAfter {
			s.crashes = 0
		}
		s.crashes++
		s.restarts++
		wait := backoff(s.crashes)
		s.mu.Unlock()
		m.restarts.Add(1)
		if wait > 0 {
			m.log.Info().Int("slot", s.index).Dur("backoff", wait).Msg("waiting before restart")
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-g.ctx.Done():
				t.Stop()
				return
			}
		}
		if g.ctx.Err() != nil {
			return
		}
	}
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// spawn starts the worker for slot i of g: the same binary in worker mode,
// with its control channel on fd 3, then its sockets, and sends it the
// config.
func (m *Master) spawn(g *generation, i int) (*proc, error) {
	parent, child, err := netutil.SocketPair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	conn, err := netutil.FileConn(parent) // closes parent
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	cfg := g.cfg
	g.mu.Unlock()
	files := []*os.File{child}
	specs := []netutil.FDSpec{{Kind: string(wire.FDControl), FD: 3}}
	m.mu.Lock()
	for _, srv := range cfg.Servers {
		for _, sl := range m.sockets.slotsFor(srv.Listen, i, g.n) {
			files = append(files, m.sockets.byAddr[srv.Listen][sl])
			specs = append(specs, netutil.FDSpec{Kind: string(wire.FDTCP), Addr: srv.Listen, Slot: sl, FD: 2 + len(files)})
			if f := m.sockets.udpFile(srv.Listen, sl); f != nil && srv.Serves(config.ProtocolHTTP3) {
				files = append(files, f)
				specs = append(specs, netutil.FDSpec{Kind: string(wire.FDUDP), Addr: srv.Listen, Slot: sl, FD: 2 + len(files)})
			}
		}
	}
	m.mu.Unlock()
	area, files, specs := m.shareRegion(files, specs)
	files, specs, cacheEnv := g.shareCache(files, specs, nil)

	cmd := exec.Command(m.opts.WorkerExe, m.opts.WorkerArgs...)
	cmd.Env = append(workerEnviron(),
		wire.EnvRole+"="+wire.RoleWorker,
		wire.EnvSlot+"="+strconv.Itoa(i),
		wire.EnvGeneration+"="+strconv.Itoa(g.id),
		wire.EnvFDs+"="+netutil.EncodeFDs(specs),
		wire.EnvMasterPID+"="+strconv.Itoa(os.Getpid()),
		wire.EnvLogFormat+"="+m.opts.LogFormat,
		wire.EnvShmArea+"="+strconv.Itoa(area),
	)
	cmd.Env = append(cmd.Env, workerRuntimeEnv(g.n)...)
	cmd.Env = append(cmd.Env, cacheEnv...)
	cmd.ExtraFiles = files
	cmd.Stdout = m.opts.WorkerOutput
	cmd.Stderr = m.opts.WorkerOutput
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Killed with the master, even by SIGKILL; its own process group,
		// so a terminal's Ctrl-C reaches the master alone.
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true,
	}
	if cred, err := m.credential(cfg); err != nil {
		conn.Close()
		m.releaseArea(area)
		return nil, err
	} else if cred != nil {
		cmd.SysProcAttr.Credential = cred
	}
	p, err := startProc(cmd, conn, i, g.id, m.acmeRequest)
	if err != nil {
		m.releaseArea(area)
		return nil, err
	}
	m.releaseAreaOnExit(p, area)
	body, err := json.Marshal(cfg)
	if err == nil {
		err = p.send(&netutil.Message{Type: wire.MsgConfig, Body: body})
	}
	if err == nil {
		err = m.sendLimits(p, g)
	}
	if err != nil {
		p.kill()
		<-p.exited
		return nil, fmt.Errorf("supervisor: send config to worker %d: %w", i, err)
	}
	m.upstreams.sendTo(p) // the proxy hosts' upstream health (upstreams.go)
	m.log.Debug().Int("slot", i).Int(logWorkerPID, p.pid).Int("generation", g.id).Msg("worker started")
	return p, nil
}

// waitReady waits until every slot of g has a ready worker.
func (g *generation) waitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := 0
		g.mu.Lock()
		total := len(g.slots)
		g.mu.Unlock()
		for _, p := range g.procs() {
			if p.getState() == StateReady {
				ready++
			}
		}
		if ready == total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("supervisor: generation %d: %d of %d workers ready: %w", g.id, ready, total, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// retire stops g: no more restarts, then each worker drains (graceful) or
// stops at once, within timeout; one that is still there then is killed.
func (m *Master) retire(g *generation, graceful bool, timeout time.Duration) {
	g.cancel()
	procs := g.procs()
	var wg sync.WaitGroup
	for _, p := range procs {
		p.retire()
		p.setState(StateDraining)
		wg.Go(func() {
			if graceful {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				_, _ = p.request(ctx, wire.MsgDrain, wire.Drain{TimeoutMS: timeout.Milliseconds()})
			} else {
				p.signal(syscall.SIGTERM)
			}
			if !stopOrKill(p, timeout+2*time.Second) {
				m.log.Warn().Int("slot", p.slot).Int(logWorkerPID, p.pid).Msg("worker did not stop in time; killed it")
			}
		})
	}
	wg.Wait()
	g.wg.Wait()
	g.mu.Lock()
	c := g.cache
	g.cache = nil
	g.mu.Unlock()
	m.caches.release(c)
}

// stopOrKill waits for p to exit, and kills it after d. It reports whether p
// exited on its own.
func stopOrKill(p *proc, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		p.kill()
		<-p.exited
		return false
	}
}

// EnvCPUProfile names the environment variable that makes every worker
// write a CPU profile: ROCKSTAR_CPUPROFILE=/tmp/rockstar starts, in each
// worker, a pprof CPU profile that is written to
// /tmp/rockstar.<slot>.<pid>.pprof when the worker exits (a drain, a
// reload, `rockstar stop`). Workers inherit it from the master's
// environment. Profiles of a worker under load are what
// cmd/rockstar/default.pgo is built from (see bench/RESULTS.md); merge
// several with `go tool pprof -proto a.pprof b.pprof > merged.pprof`.
// Default: unset, no profile.
const EnvCPUProfile = wire.EnvCPUProfile

// workerEnviron is the master's environment without what belongs to the
// master alone: systemd's notify socket and watchdog, and an upgrade's
// handover.
func workerEnviron() []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "NOTIFY_SOCKET=") || strings.HasPrefix(e, "WATCHDOG_USEC=") ||
			strings.HasPrefix(e, "WATCHDOG_PID=") ||
			strings.HasPrefix(e, "ROCKSTAR_") && !strings.HasPrefix(e, EnvCPUProfile+"=") {
			continue
		}
		env = append(env, e)
	}
	return env
}
