package child

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// IsWorker reports whether this process was started by a master as one of
// its workers; main should then call Run and nothing else.
func IsWorker() bool { return os.Getenv(wire.EnvRole) == wire.RoleWorker }

// orphanCheck is how often a worker checks that its master still lives.
const orphanCheck = 100 * time.Millisecond

// childWorker is the state of a worker process.
type childWorker struct {
	log     zerolog.Logger
	conn    net.Conn
	sendMu  sync.Mutex
	sm      worker.ServerManager
	roots   roots
	access  *reopenableFile
	started time.Time
	state   string
	serving sync.WaitGroup
	shared  *workerShared // nil without a region from the master
	// baseRequests were counted in the shared area before this worker.
	baseRequests uint64
	// acme serves the ACME store's certificates on TLS listeners
	// (acme.go); nil without one.
	acme     *acmeCerts
	acmeReqs acmeRequests
}

// Run runs this process as a worker: it takes its sockets and control
// channel from the master, serves until told to drain or stop, and exits
// as soon as the master is gone. It returns the process exit code.
func Run(out io.Writer) int {
	// The parent-death signal belongs to the thread that sets it: keep
	// this one for good.
	runtime.LockOSThread()
	_ = netutil.SetParentDeathSignal(syscall.SIGKILL)
	masterPID, _ := strconv.Atoi(os.Getenv(wire.EnvMasterPID))
	if masterPID != 0 && !netutil.ParentAlive(masterPID) {
		return 1 // the master died before we could watch it
	}
	slot := os.Getenv(wire.EnvSlot)
	if os.Getenv(wire.EnvLogFormat) == "console" {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	log := workerLogger(out, slot, os.Getenv(wire.EnvGeneration))
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1,
		syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE)

	stopProfile := startCPUProfile(slot, log)
	defer stopProfile()
	w := &childWorker{log: log, started: time.Now(), state: wire.StateStarting}
	if err := w.run(masterPID); err != nil {
		log.Error().Err(err).Msg("worker failed")
		return 1
	}
	return 0
}

func (w *childWorker) run(masterPID int) error {
	specs, err := netutil.DecodeFDs(os.Getenv(wire.EnvFDs))
	if err != nil {
		return err
	}
	var listeners []listenerSpec
	for _, s := range specs {
		switch wire.FDKind(s.Kind) {
		case wire.FDControl:
			f := os.NewFile(uintptr(s.FD), "control")
			if f == nil {
				return errors.New("child: no control fd")
			}
			if w.conn, err = netutil.FileConn(f); err != nil { // closes f
				return err
			}
		case wire.FDShared:
			if err := w.openShared(s.FD); err != nil {
				return err
			}
		case wire.FDCache:
			if err := w.roots.caches.open(s.FD); err != nil {
				return err
			}
		case wire.FDTCP:
			ln, err := netutil.FileListener(uintptr(s.FD), s.Addr)
			if err != nil {
				return err
			}
			listeners = append(listeners, listenerSpec{addr: s.Addr, slot: s.Slot, ln: ln})
		case wire.FDUDP: // HTTP/3, after the slot's TCP socket
			if err := attachPacketConn(listeners, s); err != nil {
				return err
			}
		}
	}
	if w.conn == nil {
		return errors.New("child: no control channel")
	}
	defer w.roots.caches.close() // after the servers stopped: revalidations in flight

	r := bufio.NewReader(w.conn)

	// Exit with the master: SIGTERM stops at once, and so does a parent change.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	// The watchers below end when run returns (done), and run waits for them.
	done := make(chan struct{})
	var watchers sync.WaitGroup
	defer watchers.Wait()
	defer close(done)
	orphaned := make(chan struct{})
	watchers.Go(func() {
		t := time.NewTicker(orphanCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if masterPID != 0 && !netutil.ParentAlive(masterPID) {
				close(orphaned)
				return
			}
		}
	})

	first, err := netutil.ReadMessage(r)
	if err != nil || first.Type != wire.MsgConfig {
		return fmt.Errorf("child: expected the config first: %v", err)
	}
	var cfg config.Config
	if err := json.Unmarshal(first.Body, &cfg); err != nil {
		return fmt.Errorf("child: config: %w", err)
	}
	if err := w.readLimits(r); err != nil {
		return err
	}
	if err := w.start(&cfg, listeners); err != nil {
		return err
	}

	msgs := make(chan *netutil.Message)
	readErr := make(chan error, 1)
	// The reader ends on a read error: run closes the channel when it
	// returns (below), which ends a read in progress.
	defer w.conn.Close()
	watchers.Go(func() {
		for {
			m, err := netutil.ReadMessage(r)
			if err != nil {
				readErr <- err
				return
			}
			if w.acmeAnswer(m) { // a handshake waits for it: not behind a push
				continue
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	})
	for {
		select {
		case m := <-msgs:
			if done := w.handle(m); done {
				return nil
			}
		case <-readErr:
			w.log.Warn().Msg("control channel closed: the master is gone; stopping")
			w.stopNow()
			return nil
		case <-orphaned:
			w.log.Warn().Msg("the master is gone; stopping")
			w.stopNow()
			return nil
		case <-term:
			w.stopNow()
			return nil
		}
	}
}

type listenerSpec struct {
	addr string
	slot int
	ln   net.Listener
	pc   net.PacketConn // the slot's UDP socket for HTTP/3; nil without
}

// start builds the servers from cfg on the inherited listeners and reports
// ready once all of them accept.
func (w *childWorker) start(cfg *config.Config, listeners []listenerSpec) error {
	w.sm = worker.NewServerManager()
	w.useShared()
	w.sm.SetLogger(w.log)
	w.log = w.log.Level(cfg.Log.ZerologLevel())
	w.sm.SetLogger(w.log)
	w.roots.proxies.log = w.log
	w.roots.caches.log = w.log
	var access io.Writer
	switch cfg.Log.AccessLog {
	case "":
	case config.AccessLogStderr:
		access = zerolog.SyncWriter(os.Stderr)
	default:
		var err error
		if w.access, err = openLog(cfg.Log.AccessLog); err != nil {
			return err
		}
		access = w.access
	}
	for _, sc := range cfg.Servers {
		if sc.TLS() && w.acme == nil {
			w.acme = newACMECerts(cfg, w.log, w.askMaster)
			w.roots.acme = w.acme
		}
	}
	hosts, tenants, err := w.roots.hostConfigs(cfg)
	if err != nil {
		return err
	}
	if err := w.sm.ReplaceHosts(hosts, tenants); err != nil {
		return err
	}
	router := worker.NewRouter()
	var servers []worker.Server
	for _, l := range listeners {
		sc, ok := findServer(cfg, l.addr)
		if !ok {
			l.close()
			continue
		}
		if err := checkTLS(sc); err != nil {
			return err
		}
		scfg := serverConfig(sc, access, cfg.Log.AccessLogFormat)
		if sc.TLS() {
			scfg.TLSConfig = w.acme.tlsConfig()
		}
		srv := w.sm.NewServer(scfg)
		srv.SetRouter(router)
		servers = append(servers, srv)
		w.serving.Go(func() {
			if err := l.serve(srv, sc); err != nil {
				w.log.Error().Err(err).Str("listen", l.addr).Msg("serve")
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range servers {
		for !s.IsRunning() {
			if time.Now().After(deadline) {
				return errors.New("child: servers did not start")
			}
			time.Sleep(time.Millisecond)
		}
	}
	w.state = wire.StateReady
	w.log.Debug().Int("servers", len(servers)).Msg("worker ready")
	return w.send(&netutil.Message{Type: wire.MsgReady})
}

func findServer(cfg *config.Config, addr string) (config.Server, bool) {
	for _, s := range cfg.Servers {
		if s.Listen == addr {
			return s, true
		}
	}
	return config.Server{}, false
}

func (w *childWorker) send(m *netutil.Message) error {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return netutil.WriteMessage(w.conn, m)
}

func (w *childWorker) reply(req *netutil.Message, body any, err error) {
	r := &netutil.Message{ID: req.ID, Type: req.Type}
	if err != nil {
		r.Err = err.Error()
	} else if body != nil {
		r.Body, _ = json.Marshal(body)
	}
	if err := w.send(r); err != nil {
		w.log.Warn().Err(err).Str("type", req.Type).Msg("reply to master")
	}
}

// handle answers one message from the master; it reports whether the
// worker is done.
func (w *childWorker) handle(m *netutil.Message) bool {
	switch m.Type {
	case wire.MsgHealth:
		snap := w.sm.Metrics()
		h := wire.Health{State: w.state, Uptime: time.Since(w.started).Seconds()}
		for _, s := range snap.Servers {
			h.Requests += s.Requests
			h.Active += s.Active
		}
		w.sharedHealth(&h, snap)
		w.reply(m, h, nil)
	case wire.MsgMetrics:
		w.reply(m, wire.MetricsFromSnapshot(w.sm.Metrics()), nil)
	case wire.MsgConfig:
		var cfg config.Config
		err := json.Unmarshal(m.Body, &cfg)
		if err == nil {
			var hosts []worker.HostConfig
			var tenants []worker.TenantConfig
			if w.acme != nil {
				w.acme.setConfig(&cfg)
			}
			if hosts, tenants, err = w.roots.hostConfigs(&cfg); err == nil {
				err = w.sm.ReplaceHosts(hosts, tenants)
			}
		}
		w.reply(m, nil, err)
	case wire.MsgUpstreams: // pushed by the master (upstreams.go); no reply
		w.roots.proxies.setStates(m.Body)
	case wire.MsgACMECertificates: // pushed by the master (acme.go); no reply
		var r wire.ACMERenewed
		if json.Unmarshal(m.Body, &r) == nil && w.acme != nil {
			w.acme.forget(r.Names)
		}
	case wire.MsgUpstreamMetrics:
		w.reply(m, upstreamWire(), nil)
	case wire.MsgLimits:
		w.reply(m, nil, w.setLimits(m.Body))
	case wire.MsgReopen:
		var err error
		if w.access != nil {
			err = w.access.Reopen()
		}
		w.reply(m, nil, err)
	case wire.MsgDrain:
		var d wire.Drain
		_ = json.Unmarshal(m.Body, &d)
		w.state = wire.StateDraining
		w.reply(m, nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.TimeoutMS)*time.Millisecond)
		err := w.sm.Drain(ctx, time.Duration(d.LingerMS)*time.Millisecond)
		cancel()
		w.serving.Wait()
		if err != nil {
			w.log.Warn().Err(err).Msg("drain: closed connections at the deadline")
		}
		return true
	case wire.MsgStop:
		w.reply(m, nil, nil)
		w.stopNow()
		return true
	default:
		w.reply(m, nil, fmt.Errorf("unknown message %q", m.Type))
	}
	return false
}

func (w *childWorker) stopNow() {
	if w.sm != nil {
		_ = w.sm.StopAll()
	}
	w.serving.Wait()
}
