package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// Options configures a Master. Zero fields take the defaults noted.
type Options struct {
	// ConfigPath is the TOML config file. Required.
	ConfigPath string
	// Log receives the master's log. Default: zerolog to stderr.
	Log *zerolog.Logger
	// WorkerExe and WorkerArgs start a worker: the same binary, which
	// must call child.Run when child.IsWorker reports true. Default
	// /proc/self/exe with the master's own arguments, so a binary replaced
	// on disk does not change the workers of a running master.
	WorkerExe  string
	WorkerArgs []string
	// WorkerOutput receives the workers' stdout and stderr. Default os.Stderr.
	WorkerOutput io.Writer
	// UpgradeExe and UpgradeArgs start the new master on USR2. Default: the
	// binary now at os.Executable's path, with the master's own arguments.
	UpgradeExe  string
	UpgradeArgs []string
	// LogFormat is the workers' log format, "console" or "json" (the default).
	LogFormat string
	// HealthInterval is the time between health probes; a worker that misses
	// 3 in a row is killed and replaced. Default 1s.
	HealthInterval time.Duration
	// ReadyTimeout bounds the start of a generation. Default 60s.
	ReadyTimeout time.Duration
}

// Master is the supervisor process: it owns the listening sockets, runs a
// generation of workers, and obeys signals and the control socket.
type Master struct {
	opts Options
	log  zerolog.Logger

	started  time.Time
	sockets  *socketPool // guarded by mu
	restarts atomic.Int64
	shared   *sharedMem     // limits and counters shared with the workers
	cluster  *clusterLimits // cluster-scoped limits' leases (cluster_limits.go), guarded by mu; nil without
	caches   cacheSet       // the response cache's memory (cachemem.go)
	purges   *purgeBus      // cache purges to and from other machines (cachepurge.go); under mu
	traffic  trafficRates   // per-host and per-tenant rates for /status

	upstreams *upstreamMonitor // the proxy hosts' health checks (upstreams.go)
	acme      *acmeManager     // automatic HTTPS (acme.go), guarded by mu; nil without
	sd        *sdNotifier      // what systemd is told (systemd.go)

	opMu sync.Mutex // serializes reload, scaling, upgrade and stop
	// handedOver is set, under opMu, once a binary upgrade's new master
	// is ready: runtime API changes must go to it from then on.
	handedOver bool

	mu  sync.Mutex
	cfg *config.Config
	// adminToken is admin.token_file's token as read at start ("" for none).
	adminToken string
	cur        *generation
	draining   []*generation
	nextGen    int
	reloads    map[string]int64 // result -> count
	ctlInode   uint64           // the control socket this master created
	// Binary upgrades (shared_handover.go): the new master's end of the
	// pipe the old one closes once its workers are gone, and the old
	// master's end, once it handed the region over.
	oldMaster, handedTo *os.File

	wg     sync.WaitGroup // background retirements and servers
	stopCh chan stopRequest
	done   chan struct{}
}

type stopRequest struct{ graceful bool }

// New returns a master for opts; Run starts it.
func New(opts Options) *Master {
	if opts.Log == nil {
		l := zerolog.New(os.Stderr).With().Timestamp().Logger()
		opts.Log = &l
	}
	if opts.WorkerExe == "" {
		opts.WorkerExe = "/proc/self/exe"
		opts.WorkerArgs = os.Args[1:]
	}
	if opts.WorkerOutput == nil {
		opts.WorkerOutput = os.Stderr
	}
	if opts.UpgradeArgs == nil {
		opts.UpgradeArgs = os.Args[1:]
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	log := opts.Log.With().Str("role", "master").Int("pid", os.Getpid()).Logger()
	return &Master{
		opts:    opts,
		log:     log,
		sd:      newSDNotifier(log),
		sockets: newSocketPool(),
		reloads: map[string]int64{"success": 0, "failure": 0},
		stopCh:  make(chan stopRequest, 1),
		done:    make(chan struct{}),
	}
}

// workerCount resolves the config's worker count.
func workerCount(cfg *config.Config) int {
	return max(cfg.Supervisor.Workers, 1)
}

// Run loads the config, opens the sockets, starts the workers, and serves
// until a stop signal or request. It returns nil after a clean stop.
func (m *Master) Run() error {
	m.started = time.Now()
	cfg, err := config.Load(m.opts.ConfigPath)
	if err != nil {
		return err
	}
	m.cfg = cfg
	if m.adminToken, err = readAdminToken(cfg.Admin); err != nil {
		return err
	}
	m.log = m.log.Level(cfg.Log.ZerologLevel())
	m.upstreams = m.startUpstreams(cfg)
	defer m.upstreams.close() // after the workers are gone
	if m.shared, err = m.openSharedMem(cfg); err != nil {
		return err
	}
	defer m.shared.close() // after every worker is gone
	cl, err := m.startCluster(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cluster = cl
	m.mu.Unlock()
	defer func() { m.clusterManager().close() }() // after every worker, before the region
	defer m.caches.closeAll()
	if err := m.startPurges(cfg.Cluster); err != nil {
		return err
	}
	defer m.stopPurges()
	defer m.stopWatchingOldMaster()

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(sigs)

	inherited, err := m.adoptInherited()
	if err != nil {
		return err
	}
	ctl, err := m.listenControl(cfg) // ErrRunning for a second master of the same config
	if err != nil {
		m.sockets.closeAll()
		return err
	}
	// Then the addresses, before any worker: one that another process
	// listens on stops a second master here.
	if err := m.openSockets(cfg, workerCount(cfg)); err != nil {
		ctl.Close()
		m.removeControl(cfg)
		m.sockets.closeAll()
		return err
	}
	acme, err := newACMEManager(cfg, m.log, m.currentConfig, m.acmeNotify)
	if err != nil {
		ctl.Close()
		m.removeControl(cfg)
		m.sockets.closeAll()
		return err
	}
	m.mu.Lock()
	m.acme = acme
	m.mu.Unlock()
	defer func() { m.acmeManager().close() }() // after the workers are gone
	g, err := m.startGeneration(cfg, workerCount(cfg))
	if err != nil {
		ctl.Close()
		m.removeControl(cfg)
		m.sockets.closeAll()
		return err
	}
	m.mu.Lock()
	m.cur = g
	m.mu.Unlock()

	ctx, cancel := context.WithTimeoutCause(context.Background(), m.opts.ReadyTimeout,
		fmt.Errorf("supervisor: workers not ready after %s", m.opts.ReadyTimeout))
	err = g.waitReady(ctx)
	cancel()
	if err != nil {
		m.retire(g, false, 2*time.Second)
		ctl.Close()
		m.removeControl(cfg)
		m.sockets.closeAll()
		return err
	}
	m.announceReady(cfg, g, inherited)
	acme.update(cfg) // the workers answer the CA's challenges now

	m.wg.Go(func() { m.serveControl(ctl) })
	admin := m.startAdmin(cfg)
	m.wg.Go(m.healthLoop)
	m.wg.Go(m.trafficLoop)
	m.wg.Go(m.watchOldMaster)

	stop := m.loop(sigs)
	m.sd.stopping(stop.graceful) // silent after an upgrade handed the service over

	// Stop: the control server and admin first, so nobody asks for more.
	ctl.Close()
	if admin != nil {
		ctxA, cancelA := context.WithTimeout(context.Background(), time.Second)
		_ = admin.Shutdown(ctxA)
		cancelA()
	}
	close(m.done)
	m.shutdownWorkers(stop.graceful)
	m.workersGone()
	m.stopWatchingOldMaster()
	m.wg.Wait()
	m.sockets.closeAll()
	m.removeControl(m.currentConfig())
	m.removePIDFile(m.currentConfig())
	m.log.Info().Bool("graceful", stop.graceful).Msg("stopped")
	return nil
}

// loop handles signals until a stop. It also refreshes systemd's status
// line and feeds its watchdog (systemd.go): from here, so that a loop that
// no longer turns starves the watchdog.
func (m *Master) loop(sigs <-chan os.Signal) stopRequest {
	statusC, watchdogC, stopTickers := m.systemdTickers()
	defer stopTickers()
	if watchdogC != nil && m.watchdogHealthy() {
		m.sd.ping()
	}
	for {
		select {
		case s := <-m.stopCh:
			return s
		case <-statusC:
			m.sd.status(m.systemdStatus())
		case <-watchdogC:
			if m.watchdogHealthy() {
				m.sd.ping()
			}
		case sig := <-sigs:
			m.log.Info().Str("signal", sig.String()).Msg("signal")
			switch sig {
			case syscall.SIGHUP:
				m.wg.Go(func() { _ = m.Reload() })
			case syscall.SIGTERM, syscall.SIGINT:
				return stopRequest{graceful: m.currentConfig().Supervisor.TermGraceful(os.Getpid(), os.Getenv)}
			case syscall.SIGQUIT:
				return stopRequest{graceful: true}
			case syscall.SIGUSR1:
				m.wg.Go(m.reopenLogs)
			case syscall.SIGUSR2:
				m.wg.Go(func() { _ = m.Upgrade() })
			case syscall.SIGTTIN:
				m.wg.Go(func() { _ = m.Scale(+1) })
			case syscall.SIGTTOU:
				m.wg.Go(func() { _ = m.Scale(-1) })
			}
		}
	}
}

// Stop asks Run to stop, gracefully or at once.
func (m *Master) Stop(graceful bool) {
	select {
	case m.stopCh <- stopRequest{graceful: graceful}:
	default:
	}
}

func (m *Master) acmeManager() *acmeManager {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acme
}

func (m *Master) currentConfig() *config.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// shutdownWorkers retires every generation: gracefully within
// shutdown_timeout, or at once within a short bound.
func (m *Master) shutdownWorkers(graceful bool) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	gens := append([]*generation{m.cur}, m.draining...)
	m.cur = nil
	timeout := m.cfg.Supervisor.ShutdownTimeout
	m.mu.Unlock()
	if !graceful {
		timeout = 3 * time.Second
	}
	var wg sync.WaitGroup
	for _, g := range gens {
		if g != nil {
			wg.Go(func() { m.retire(g, graceful, timeout) })
		}
	}
	wg.Wait()
}

// announceReady logs the ready line, writes the pid file and tells systemd.
func (m *Master) announceReady(cfg *config.Config, g *generation, upgraded bool) {
	var pids []int
	for _, p := range g.procs() {
		pids = append(pids, p.pid)
	}
	m.mu.Lock()
	listeners := m.sockets.listeners()
	m.mu.Unlock()
	if err := m.writePIDFile(cfg); err != nil {
		m.log.Error().Err(err).Msg("cannot write pid file")
	}
	m.sd.ready(m.systemdStatus())
	m.log.Info().Strs("listeners", listeners).Ints("worker_pids", pids).Int("generation", g.id).
		Bool("upgraded", upgraded).Msg("ready")
	m.notifyOldMaster()
}

// writePIDFile writes this master's pid to the pid file, atomically: a
// temporary file beside it, renamed over it.
func (m *Master) writePIDFile(cfg *config.Config) error {
	path := cfg.Supervisor.PIDFile
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// A fresh name made with O_EXCL, so that nothing planted in the
	// directory (a symlink at a name one could guess) is written through.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// removePIDFile removes the pid file if it still names this master: after
// an upgrade it names the new one, which keeps it.
func (m *Master) removePIDFile(cfg *config.Config) {
	path := cfg.Supervisor.PIDFile
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(string(trimSpace(b))); err == nil && pid == os.Getpid() {
		_ = os.Remove(path)
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// credential returns the uid and gid workers run as, when the master is
// root and the config names a user; nil otherwise.
func (m *Master) credential(cfg *config.Config) (*syscall.Credential, error) {
	if os.Geteuid() != 0 || cfg.Supervisor.User == "" {
		return nil, nil
	}
	u, err := user.Lookup(cfg.Supervisor.User)
	if err != nil {
		if u, err = user.LookupId(cfg.Supervisor.User); err != nil {
			return nil, fmt.Errorf("supervisor: user %q: %w", cfg.Supervisor.User, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if cfg.Supervisor.Group != "" {
		g, err := user.LookupGroup(cfg.Supervisor.Group)
		if err != nil {
			if g, err = user.LookupGroupId(cfg.Supervisor.Group); err != nil {
				return nil, fmt.Errorf("supervisor: group %q: %w", cfg.Supervisor.Group, err)
			}
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// ErrStopped is returned by operations asked of a master that is stopping.
var ErrStopped = errors.New("supervisor: master is stopping")

func (m *Master) stopping() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}
