package child

import (
	"bufio"
	"fmt"
	"os"
	"strconv"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/worker"
)

// The worker's part of the shared region (see shared.go).

// openShared maps the region the master passed at fd.
func (w *childWorker) openShared(fd int) error {
	area, err := strconv.Atoi(os.Getenv(wire.EnvShmArea))
	if err != nil {
		return fmt.Errorf("child: %s: %w", wire.EnvShmArea, err)
	}
	if w.shared, err = openShared(uintptr(fd), area, w.log); err != nil {
		return err
	}
	w.baseRequests = w.shared.requests()
	return nil
}

// readLimits reads the "limits" message that follows the config when the
// worker shares the master's region.
func (w *childWorker) readLimits(r *bufio.Reader) error {
	if w.shared == nil {
		return nil
	}
	m, err := netutil.ReadMessage(r)
	if err != nil || m.Type != wire.MsgLimits {
		return fmt.Errorf("child: expected the limits after the config: %v", err)
	}
	return w.shared.setLimits(m.Body)
}

// useShared makes the manager keep its buckets and counters in the region.
func (w *childWorker) useShared() {
	if w.shared == nil {
		return
	}
	w.shared.log = w.log
	w.sm.SetLimiterFactory(w.shared.limiter)
	w.sm.SetCounterAllocator(w.shared.counters)
}

// setLimits applies a "limits" message pushed before a config.
func (w *childWorker) setLimits(body []byte) error {
	if w.shared == nil {
		return fmt.Errorf("child: limits for a worker without shared memory")
	}
	return w.shared.setLimits(body)
}

// sharedHealth completes a health answer: connections by server and,
// with shared counters (whose area an earlier worker may have filled), the
// requests of this process alone.
func (w *childWorker) sharedHealth(h *wire.Health, snap worker.MetricsSnapshot) {
	h.Servers = make(map[string]int64, len(snap.Servers))
	for name, s := range snap.Servers {
		h.Servers[name] = s.Active
	}
	if w.shared != nil {
		h.Requests = w.shared.requests() - w.baseRequests
	}
}
