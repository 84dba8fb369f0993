package worker

import (
	"sync/atomic"
	"time"
)

// Receive windows start at h2StreamWindow per stream and h2ConnWindow per
// connection, and grow by themselves (auto-tuning) when they, not the
// reader, hold a sender back: a window given back half at a time, each
// half faster than two round trips, doubles, up to h2StreamWindowMax and
// h2ConnWindowMax. The round trip is the one of the connection's
// SETTINGS and its ACK. On loopback or a LAN the defaults are never the
// limit; across a long, fast path a big upload speeds up after a few
// round trips instead of being held to a window per round trip.
const (
	// h2StreamWindowMax bounds a stream's tuned receive window.
	h2StreamWindowMax = 16 << 20
	// h2ConnWindowMax bounds a connection's tuned receive window.
	h2ConnWindowMax = 64 << 20
)

// h2Tuner is one receive window's size and its auto-tuning state.
type h2Tuner struct {
	size  int64     // the window the sender is granted
	given int64     // window given back since mark
	mark  time.Time // when given last reached half the window
}

// gave records n bytes of window given back at now, over a connection
// whose round trip is rtt (0: not known yet); it returns how much the
// window grows by, to be given back with them.
func (t *h2Tuner) gave(n int64, now time.Time, rtt time.Duration, max int64) int64 {
	t.given += n
	if t.given < t.size/2 {
		return 0
	}
	var grow int64
	if !t.mark.IsZero() && rtt > 0 && now.Sub(t.mark) < 2*rtt && t.size < max {
		grow = min(t.size, max-t.size)
		t.size += grow
	}
	t.given, t.mark = 0, now
	return grow
}

// h2RTT is a connection's round trip, from its SETTINGS to their ACK.
type h2RTT struct {
	sent atomic.Int64 // UnixNano when our SETTINGS were written
	rtt  atomic.Int64 // nanoseconds; 0 until the ACK came
}

func (r *h2RTT) settingsSent(now time.Time) { r.sent.Store(now.UnixNano()) }

// settingsAcked takes the round trip from the first ACK.
func (r *h2RTT) settingsAcked(now time.Time) {
	if s := r.sent.Load(); s != 0 && r.rtt.Load() == 0 {
		r.rtt.Store(max(now.UnixNano()-s, 1))
	}
}

func (r *h2RTT) get() time.Duration { return time.Duration(r.rtt.Load()) }
