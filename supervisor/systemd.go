package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
)

// statusInterval is how often the master refreshes its STATUS= line for
// the service manager between the changes that refresh it at once.
const statusInterval = 5 * time.Second

// sdNotifier tells the service manager (systemd, or anything that speaks
// sd_notify(3)) what the master is doing, over the datagram socket named
// by $NOTIFY_SOCKET. Without that variable every method does nothing.
// Only the master speaks for the service: workers never see the variable
// (workerEnviron), and a master that handed the service over to the new
// master of a binary upgrade falls silent.
type sdNotifier struct {
	// notify sends one datagram of newline-separated assignments; it
	// reports false, nil when $NOTIFY_SOCKET is unset. Default
	// daemon.SdNotify, leaving the variable set for the next message.
	notify func(state string) (bool, error)
	// monotonic is the "MONOTONIC_USEC=<µs>" assignment for CLOCK_MONOTONIC
	// now, possibly with a trailing newline, or "" where there is none.
	// Default daemon.SdNotifyMonotonicUsec.
	monotonic func() string
	// watchdog is how often to send WATCHDOG=1: half of $WATCHDOG_USEC when
	// it is set for this process ($WATCHDOG_PID unset or this pid); 0
	// when the watchdog is off.
	watchdog time.Duration

	log zerolog.Logger

	mu sync.Mutex
	// quiet: STOPPING=1 was sent, or the service belongs to another
	// master now; nothing more is said.
	quiet   bool
	failing bool // the last send failed; logged once until one succeeds
}

// newSDNotifier reads the notify socket and the watchdog from the
// environment (see sdNotifier).
func newSDNotifier(log zerolog.Logger) *sdNotifier {
	n := &sdNotifier{
		notify:    func(state string) (bool, error) { return daemon.SdNotify(false, state) },
		monotonic: daemon.SdNotifyMonotonicUsec,
		log:       log,
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn().Err(err).Msg("systemd watchdog: ignoring WATCHDOG_USEC")
	}
	n.watchdog = wd / 2
	return n
}

// enabled reports whether there is a service manager to tell anything.
func (n *sdNotifier) enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// send sends the assignments as one message, unless the master said it
// stops or handed the service over; then, if last, it says nothing more
// (a reload racing with the stop must not say READY=1 after STOPPING=1).
// A failure is logged once, until a send succeeds again.
func (n *sdNotifier) send(last bool, assignments ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.quiet {
		return
	}
	n.quiet = last
	sent, err := n.notify(strings.Join(assignments, "\n"))
	switch {
	case err != nil && !n.failing:
		n.failing = true
		n.log.Warn().Err(err).Msg("sd_notify failed")
	case err == nil && sent:
		n.failing = false
	}
}

// statusAssignment is STATUS=s, on one line as the protocol needs.
func statusAssignment(s string) string {
	return "STATUS=" + strings.Join(strings.Fields(s), " ")
}

// ready says the master serves: at start, with its pid.
func (n *sdNotifier) ready(status string) {
	n.send(false, daemon.SdNotifyReady, "MAINPID="+strconv.Itoa(os.Getpid()), statusAssignment(status))
}

// reloading says a reload began, with the monotonic time that
// Type=notify-reload compares with the time it sent its signal.
func (n *sdNotifier) reloading() {
	msg := []string{daemon.SdNotifyReloading}
	if mono := strings.TrimSuffix(n.monotonic(), "\n"); mono != "" {
		msg = append(msg, mono)
	}
	n.send(false, append(msg, statusAssignment("reloading the configuration"))...)
}

// reloaded says a reload ended: READY=1 whether it succeeded or failed
// (the old config still serves then), and the status.
func (n *sdNotifier) reloaded(status string) {
	n.send(false, daemon.SdNotifyReady, statusAssignment(status))
}

// stopping says a stop began.
func (n *sdNotifier) stopping(graceful bool) {
	how := "fast"
	if graceful {
		how = "graceful"
	}
	n.send(true, daemon.SdNotifyStopping, statusAssignment("stopping ("+how+")"))
}

// status replaces the status line.
func (n *sdNotifier) status(status string) { n.send(false, statusAssignment(status)) }

// ping sends WATCHDOG=1.
func (n *sdNotifier) ping() { n.send(false, daemon.SdNotifyWatchdog) }

// handOver makes pid, the new master of a binary upgrade, the service's
// main process, and silences this one: what it says from now on (its
// STOPPING=1 included) would speak for the new master.
func (n *sdNotifier) handOver(pid int) {
	n.send(true, "MAINPID="+strconv.Itoa(pid), statusAssignment(fmt.Sprintf("upgraded: handed over to pid %d", pid)))
}

// upgradeEnviron is env for the new master of a binary upgrade: without
// WATCHDOG_PID, which names this master, so that the new one (the main
// process once handOver told systemd) keeps the watchdog fed.
func upgradeEnviron(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "WATCHDOG_PID=") {
			out = append(out, e)
		}
	}
	return out
}

// systemdStatus is the master's status line for the service manager, as a
// person reads it: "4/4 workers ready, generation 3, 1234.5 req/s", with
// the workers still draining from an older generation if any.
func (m *Master) systemdStatus() string {
	m.mu.Lock()
	cur, draining := m.cur, append([]*generation(nil), m.draining...)
	m.mu.Unlock()
	if cur == nil {
		return "no workers"
	}
	ws := cur.status()
	ready := 0
	for _, w := range ws {
		if w.State == StateReady {
			ready++
		}
	}
	s := fmt.Sprintf("%d/%d workers ready, generation %d", ready, len(ws), cur.id)
	if n := drainingWorkers(draining); n > 0 {
		s += fmt.Sprintf(", %d draining", n)
	}
	var rps float64
	if tr := m.currentTraffic(); tr != nil {
		for _, h := range tr.Hosts {
			rps += h.RPS
		}
	}
	return s + ", " + strconv.FormatFloat(round1(rps), 'f', -1, 64) + " req/s"
}

func drainingWorkers(gens []*generation) int {
	n := 0
	for _, g := range gens {
		for _, w := range g.status() {
			if w.State != StateExited {
				n++
			}
		}
	}
	return n
}

// watchdogHealthy reports whether the master may feed the watchdog: at
// least one worker of the current generation is ready. The caller is the
// master's loop, so that a loop that no longer turns stops the pings too.
func (m *Master) watchdogHealthy() bool {
	m.mu.Lock()
	cur := m.cur
	m.mu.Unlock()
	if cur == nil {
		return false
	}
	for _, w := range cur.status() {
		if w.State == StateReady {
			return true
		}
	}
	return false
}

// systemdTickers returns the channels of the master loop's periodic
// notifications, nil for those that are off, and a function that stops
// them.
func (m *Master) systemdTickers() (status, watchdog <-chan time.Time, stop func()) {
	var ts []*time.Ticker
	if m.sd.enabled() {
		t := time.NewTicker(statusInterval)
		ts, status = append(ts, t), t.C
	}
	if m.sd.watchdog > 0 {
		t := time.NewTicker(m.sd.watchdog)
		ts, watchdog = append(ts, t), t.C
	}
	return status, watchdog, func() {
		for _, t := range ts {
			t.Stop()
		}
	}
}
