package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// Environment of a new master started by a binary upgrade.
const (
	envInherit      = "ROCKSTAR_INHERIT"       // the sockets it inherits
	envUpgradeReady = "ROCKSTAR_UPGRADE_READY" // fd it writes "ready" to
)

// ErrUpgrade: the new master of a binary upgrade did not get ready.
var ErrUpgrade = errors.New("supervisor: binary upgrade failed")

func isUpgrade() bool { return os.Getenv(envInherit) != "" }

// adoptInherited takes the sockets an old master handed over, and reports
// whether there were any.
func (m *Master) adoptInherited() (bool, error) {
	spec := os.Getenv(envInherit)
	if spec == "" {
		return false, nil
	}
	specs, err := netutil.DecodeFDs(spec)
	if err != nil {
		return false, fmt.Errorf("supervisor: inherited sockets: %w", err)
	}
	for _, s := range specs {
		if s.Kind != "tcp" && s.Kind != "udp" {
			continue
		}
		f := os.NewFile(uintptr(s.FD), fmt.Sprintf("inherited %s %s slot %d", s.Kind, s.Addr, s.Slot))
		if f == nil {
			return false, fmt.Errorf("supervisor: inherited fd %d is not open", s.FD)
		}
		if wire.FDKind(s.Kind) == wire.FDUDP {
			m.sockets.adoptUDP(s.Addr, s.Slot, f)
			continue
		}
		m.sockets.adopt(s.Addr, s.Slot, f)
	}
	m.log.Info().Int("sockets", len(specs)).Msg("adopted the old master's sockets")
	return true, nil
}

// notifyOldMaster tells the master that started this one by USR2 that it
// is ready, so the old one can drain its workers and exit.
func (m *Master) notifyOldMaster() {
	fdStr := os.Getenv(envUpgradeReady)
	os.Unsetenv(envInherit)
	os.Unsetenv(envUpgradeReady)
	if fdStr == "" {
		return
	}
	fd, err := strconv.Atoi(fdStr)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "upgrade-ready")
	if f == nil {
		return
	}
	_, _ = f.WriteString("ready\n")
	f.Close()
}

// Upgrade execs the binary now on disk as a new master and hands it every
// listening socket. Once the new master's workers are ready, this master
// drains its own and exits. If the new one fails, this one keeps serving
// and returns why.
func (m *Master) Upgrade() error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.stopping() {
		return ErrStopped
	}
	exe := m.opts.UpgradeExe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("%w: %w", ErrUpgrade, err)
		}
	}
	var files []*os.File
	var specs []netutil.FDSpec
	m.mu.Lock()
	for _, addr := range m.sockets.addrs() {
		for slot, f := range m.sockets.byAddr[addr] {
			if f != nil {
				files = append(files, f)
				specs = append(specs, netutil.FDSpec{Kind: string(wire.FDTCP), Addr: addr, Slot: slot, FD: 2 + len(files)})
			}
		}
		for slot, f := range m.sockets.udp[addr] { // HTTP/3
			if f != nil {
				files = append(files, f)
				specs = append(specs, netutil.FDSpec{Kind: string(wire.FDUDP), Addr: addr, Slot: slot, FD: 2 + len(files)})
			}
		}
	}
	m.mu.Unlock()
	// The shared region too (shared_handover.go), so that counters and
	// limits carry on.
	shared, sharedEnv, finish, err := m.handOverShared(3 + len(files))
	if err != nil {
		return m.upgradeFailed(fmt.Errorf("%w: shared memory: %w", ErrUpgrade, err))
	}
	files = append(files, shared...)
	r, w, err := os.Pipe()
	if err != nil {
		finish(false)
		return fmt.Errorf("%w: %w", ErrUpgrade, err)
	}
	defer r.Close()
	files = append(files, w)
	cmd := exec.Command(exe, m.opts.UpgradeArgs...)
	cmd.Env = append(upgradeEnviron(withoutRockstarEnv(os.Environ())),
		envInherit+"="+netutil.EncodeFDs(specs),
		envUpgradeReady+"="+strconv.Itoa(2+len(files)),
	)
	if sharedEnv != "" {
		cmd.Env = append(cmd.Env, sharedEnv)
	}
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		finish(false)
		return m.upgradeFailed(fmt.Errorf("%w: start %s: %w", ErrUpgrade, exe, err))
	}
	w.Close()
	m.log.Info().Str("exe", exe).Int("new_pid", cmd.Process.Pid).Msg("upgrade: new master started")

	ready := make(chan bool, 1)
	go func() { // ends when the new master writes or its end of the pipe closes
		line, _ := bufio.NewReader(r).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	timeout := m.opts.ReadyTimeout + 10*time.Second
	t := time.NewTimer(timeout)
	defer t.Stop()
	var ok bool
	select {
	case ok = <-ready:
	case <-t.C:
	}
	if !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		r.Close()
		finish(false)
		return m.upgradeFailed(fmt.Errorf("%w: the new master (pid %d) did not get ready", ErrUpgrade, cmd.Process.Pid))
	}
	finish(true)
	m.handedOver = true // the new master has loaded the state: no more changes here
	m.sd.handOver(cmd.Process.Pid)
	m.log.Info().Int("new_pid", cmd.Process.Pid).Msg("upgrade: new master ready; draining and exiting")
	m.Stop(true)
	return nil
}

func (m *Master) upgradeFailed(err error) error {
	m.log.Error().Err(err).Msg("upgrade failed; still serving")
	return err
}

func withoutRockstarEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "ROCKSTAR_") {
			out = append(out, e)
		}
	}
	return out
}
