package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// Control verbs, the same as the CLI's.
const (
	VerbStatus  = "status"
	VerbReload  = "reload"
	VerbStop    = "stop"
	VerbVersion = "version"
)

// Errors of the control socket.
var (
	// ErrRunning: another master answers on the control socket.
	ErrRunning = errors.New("supervisor: a master is already running on this control socket")
	// ErrPermission: the peer is neither root nor the master's user.
	ErrPermission = errors.New("supervisor: permission denied")
	// ErrUnknownVerb: the request names no known verb.
	ErrUnknownVerb = errors.New("supervisor: unknown verb")
)

// listenControl creates the control socket: a Unix socket of mode 0600.
// Its directory is created (mode 0700) only when missing; an existing one
// is used as it is, and refused when another user could change it
// (config.CheckSocketPath), as is a path that holds anything but a socket.
// A stale socket is replaced; a live one means another master runs there
// (unless this is a binary upgrade, whose old master keeps its socket open
// until it exits).
func (m *Master) listenControl(cfg *config.Config) (*net.UnixListener, error) {
	path := cfg.Supervisor.ControlSocket
	if path == "" {
		return nil, fmt.Errorf("supervisor: no control_socket")
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("supervisor: control socket directory: %w", err)
		}
	}
	// After the MkdirAll too: someone else may have made the directory first.
	if err := config.CheckSocketPath(path); err != nil {
		return nil, fmt.Errorf("supervisor: control socket: %w", err)
	}
	if !isUpgrade() {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrRunning, path)
		}
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		_ = os.Remove(path) // stale, or the old master's during an upgrade
	}
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("supervisor: control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // removeControl decides, by inode
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	var st syscall.Stat_t
	if syscall.Stat(path, &st) == nil {
		m.mu.Lock()
		m.ctlInode = st.Ino
		m.mu.Unlock()
	}
	return ln, nil
}

// removeControl removes the control socket if it is still this master's.
func (m *Master) removeControl(cfg *config.Config) {
	path := cfg.Supervisor.ControlSocket
	var st syscall.Stat_t
	m.mu.Lock()
	ino := m.ctlInode
	m.mu.Unlock()
	if syscall.Lstat(path, &st) == nil && st.Ino == ino {
		_ = os.Remove(path)
	}
}

// Pauses of serveControl after a failed Accept, as net/http's Serve makes them.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

// serveControl answers CLI requests until ln is closed. Any other Accept
// error (EMFILE or ENFILE while descriptors run out, ENOBUFS, ENOMEM) is
// a spell that passes: it is logged once, and Accept retried after a pause
// that doubles from acceptRetryMin to acceptRetryMax, so that status,
// reload and stop work again once descriptors are free.
func (m *Master) serveControl(ln *net.UnixListener) {
	var pause time.Duration
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if pause == 0 {
				pause = acceptRetryMin
				m.log.Error().Err(err).Msg("control socket: cannot accept; retrying")
			} else {
				pause = min(2*pause, acceptRetryMax)
			}
			select {
			case <-time.After(pause):
			case <-m.done:
				return
			}
			continue
		}
		if pause != 0 {
			pause = 0
			m.log.Info().Msg("control socket: accepting again")
		}
		m.wg.Go(func() {
			defer c.Close()
			m.handleControl(c)
		})
	}
}

func (m *Master) handleControl(c *net.UnixConn) {
	pid, uid, _, err := netutil.PeerCred(c)
	if err != nil || (uid != 0 && uid != os.Getuid()) {
		_ = netutil.WriteMessage(c, &netutil.Message{Type: "error", Err: ErrPermission.Error()})
		m.log.Warn().Int("uid", uid).Msg("control socket: refused a peer of another user")
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := netutil.ReadMessage(bufio.NewReader(c))
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	reply := &netutil.Message{ID: req.ID, Type: req.Type}
	var body any
	switch req.Type {
	case VerbStatus:
		body = m.Status()
	case VerbReload:
		err = m.Reload()
	case VerbVersion:
		body = Build()
	case VerbAPI:
		var ar APIRequest
		if err = json.Unmarshal(req.Body, &ar); err == nil {
			body = m.API(ar, fmt.Sprintf("socket uid %d pid %d", uid, pid))
		}
	case VerbStop:
		var sb struct {
			Graceful bool `json:"graceful"`
		}
		_ = json.Unmarshal(req.Body, &sb)
		m.Stop(sb.Graceful)
	default:
		err = fmt.Errorf("%w %q", ErrUnknownVerb, req.Type)
	}
	if err != nil {
		reply.Err = err.Error()
	} else if body != nil {
		reply.Body, _ = json.Marshal(body)
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = netutil.WriteMessage(c, reply)
}

// Request sends one control request to the master listening on socket and
// returns its reply. A reply with Err set is returned with an error too.
func Request(ctx context.Context, socket, verb string, body any) (*netutil.Message, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("supervisor: connect to %s (is rockstar running?): %w", socket, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	m := &netutil.Message{ID: 1, Type: verb}
	if body != nil {
		if m.Body, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	if err := netutil.WriteMessage(c, m); err != nil {
		// A master that refuses this peer answers at once and hangs up
		// without reading, which can fail the write: its answer says why.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if r, rerr := netutil.ReadMessage(bufio.NewReader(c)); rerr == nil && r.Err != "" {
			return r, &RemoteError{Verb: verb, Msg: r.Err}
		}
		return nil, fmt.Errorf("supervisor: send %s: %w", verb, err)
	}
	r, err := netutil.ReadMessage(bufio.NewReader(c))
	if err != nil {
		return nil, fmt.Errorf("supervisor: read reply to %s: %w", verb, err)
	}
	if r.Err != "" {
		return r, &RemoteError{Verb: verb, Msg: r.Err}
	}
	return r, nil
}

// RemoteError is a failure the master reported for a control request.
type RemoteError struct {
	Verb, Msg string
}

func (e *RemoteError) Error() string { return e.Verb + ": " + e.Msg }
