package cluster

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/supervisor/wire"
)

// machine is one machine of a simulated cluster: its manager and its
// limit's bucket.
type machine struct {
	m *Manager
	b wire.ClusterBucket
}

func newMachines(t *testing.T, n int, store Store, clock *fakeClock, rate float64, burst int, deny bool, log *bytes.Buffer) []machine {
	t.Helper()
	out := make([]machine, n)
	for i := range out {
		o := Options{Window: 100 * time.Millisecond, Machines: n, Timeout: 50 * time.Millisecond, Now: clock.Now}
		if log != nil {
			o.Log = zerolog.New(log)
		}
		out[i] = machine{m: NewManager(store, o), b: newBucket()}
		out[i].m.Set([]Limit{{ID: "t", Scope: "tenant", Name: "demo", Rate: rate, Burst: burst, Deny: deny, Bucket: out[i].b}})
	}
	return out
}

// run simulates d of load: every step of 1 ms, each machine's workers
// try perStep requests, and every tick (a quarter window) each manager
// runs a round, machine i at its own phase of the tick, as machines do.
// It returns what each machine admitted.
func run(ms []machine, clock *fakeClock, d time.Duration, perStep int) []int {
	got := make([]int, len(ms))
	const step = time.Millisecond
	for el := time.Duration(0); el < d; el += step {
		for i, m := range ms {
			for range perStep {
				if take(m.b) {
					got[i]++
				}
			}
		}
		clock.add(step)
		for i, m := range ms {
			if int(el/step)%25 == (i*25/len(ms)+24)%25 {
				m.m.Round()
			}
		}
	}
	return got
}

func total(n []int) (s int) {
	for _, v := range n {
		s += v
	}
	return s
}

// TestLeaseBound: four machines under much more demand than a limit of
// 100/s, burst 20, admit no more in 4 s than B + R·T plus the reserves
// they held before (the package doc's bound), and not much less.
func TestLeaseBound(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock.Now)
	ms := newMachines(t, 4, store, clock, 100, 20, false, nil)
	clock.add(time.Second) // idle: the first leases are stale
	for _, m := range ms {
		m.m.Round()
	}
	held := 0
	for _, m := range ms {
		held += int(m.b.Tokens.Load())
	}
	if want := 4 * int(ReserveSize(LeaseSize(100, 100*time.Millisecond))); held > want {
		t.Fatalf("idle machines hold %d tokens, want at most their reserves, %d", held, want)
	}
	got := run(ms, clock, 4*time.Second, 3)
	bound := 20 + 100*4 + held
	t.Logf("admitted %v = %d; B + R·T + reserves = %d", got, total(got), bound)
	if total(got) > bound {
		t.Errorf("admitted %d > %d", total(got), bound)
	}
	if total(got) < 400 {
		t.Errorf("admitted %d < R·T = 400: the leases starve the machines", total(got))
	}
	for i, n := range got {
		if n < 50 {
			t.Errorf("machine %d admitted %d: the budget is not shared", i, n)
		}
	}
}

// TestLeaseIdleReturns: a machine that stops spending gives back what it
// holds over its reserve, and Close gives back the rest.
func TestLeaseIdleReturns(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock.Now)
	ms := newMachines(t, 1, store, clock, 1000, 200, false, nil)
	m := ms[0]
	spent := int64(total(run(ms, clock, 200*time.Millisecond, 1))) // busy: a whole lease
	lease, reserve := LeaseSize(1000, 100*time.Millisecond), ReserveSize(LeaseSize(1000, 100*time.Millisecond))
	if n := m.b.Tokens.Load(); n <= reserve || n > lease {
		t.Fatalf("busy machine holds %d tokens, want more than its reserve %d, at most its lease %d", n, reserve, lease)
	}
	for range 8 { // idle for two windows
		clock.add(25 * time.Millisecond)
		m.m.Round()
	}
	if n := m.b.Tokens.Load(); n != reserve {
		t.Fatalf("idle machine holds %d tokens, want its reserve %d", n, reserve)
	}
	if store.taken != spent+reserve {
		t.Fatalf("redis counts %d tokens out, want the %d spent and the reserve, %d", store.taken, spent, reserve)
	}
	m.m.Close()
	if n := m.b.Tokens.Load(); n != 0 || store.taken != spent {
		t.Fatalf("after Close: %d tokens held, %d out in redis; want 0, %d", n, store.taken, spent)
	}
}

// TestLeaseFallbackAndRecovery: Redis away turns the limit to the local
// share (or deny) at once, with one log line and a metric, and drops the
// tokens; a probe finds it back and the limit leases again.
func TestLeaseFallbackAndRecovery(t *testing.T) {
	for _, deny := range []bool{false, true} {
		clock := newFakeClock()
		store := newFakeStore(clock.Now)
		var log bytes.Buffer
		ms := newMachines(t, 2, store, clock, 100, 20, deny, &log)
		m := ms[0]
		run(ms, clock, 100*time.Millisecond, 1)
		store.setDown(true)
		take(m.b) // demand, so that the round asks Redis
		for range 2 {
			clock.add(25 * time.Millisecond)
			m.m.Round()
		}
		want := int64(wire.ModeLocal)
		if deny {
			want = wire.ModeDeny
		}
		if mode := m.b.Mode.Load(); mode != want {
			t.Fatalf("deny %v: mode %d with redis down, want %d", deny, mode, want)
		}
		if n := m.b.Tokens.Load(); n != 0 {
			t.Errorf("deny %v: %d tokens kept with redis down", deny, n)
		}
		if got := m.b.Machines.Load(); got != 2 {
			t.Errorf("machines word %d, want 2", got)
		}
		st := m.m.Stats()
		if st.Up || st.Fallbacks != 1 || st.Fallback != 1 || st.Failures == 0 {
			t.Errorf("deny %v: stats %+v with redis down", deny, st)
		}
		if c := strings.Count(log.String(), "cluster: redis unreachable; cluster limits fall back"); c != 1 {
			t.Errorf("deny %v: %d lines for redis going away, want 1:\n%s", deny, c, log.String())
		}
		// Probes every ProbeInterval, not every tick.
		calls := store.calls
		for range 3 {
			clock.add(25 * time.Millisecond)
			m.m.Round()
		}
		if store.calls-calls > 1 {
			t.Errorf("deny %v: %d calls in 75 ms with redis down, want at most 1", deny, store.calls-calls)
		}
		store.setDown(false)
		clock.add(ProbeInterval)
		m.m.Round()
		if mode := m.b.Mode.Load(); mode != wire.ModeLease || m.b.Tokens.Load() == 0 {
			t.Fatalf("deny %v: mode %d with %d tokens once redis is back, want leasing", deny, mode, m.b.Tokens.Load())
		}
		if st := m.m.Stats(); !st.Up || st.Fallback != 0 {
			t.Errorf("deny %v: stats %+v once redis is back", deny, st)
		}
		if !strings.Contains(log.String(), "cluster: redis is back") {
			t.Errorf("deny %v: no line for redis coming back:\n%s", deny, log.String())
		}
	}
}

// TestLeaseSetAndPause: Set keeps a known limit's state, leases a new
// one before it returns and forgets one gone; a paused manager asks
// nothing, and Close then gives nothing back (the buckets are another
// master's).
func TestLeaseSetAndPause(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock.Now)
	m := NewManager(store, Options{Now: clock.Now})
	a, b := newBucket(), newBucket()
	m.Set([]Limit{{ID: "a", Scope: "host", Name: "a.test", Rate: 100, Burst: 10, Bucket: a}})
	if a.Tokens.Load() == 0 {
		t.Fatal("Set did not lease a new limit")
	}
	m.Set([]Limit{{ID: "a", Scope: "host", Name: "a.test", Rate: 100, Burst: 10, Bucket: a}, {ID: "b", Scope: "host", Name: "b.test", Rate: 100, Burst: 10, Bucket: b}})
	if st := m.Stats(); st.Limits != 2 || b.Tokens.Load() == 0 {
		t.Fatalf("stats %+v, b holds %d", st, b.Tokens.Load())
	}
	m.Set([]Limit{{ID: "b", Scope: "host", Name: "b.test", Rate: 100, Burst: 10, Bucket: b}})
	if st := m.Stats(); st.Limits != 1 {
		t.Fatalf("stats %+v after a limit went", st)
	}
	m.Pause(true)
	calls := store.calls
	for range 4 {
		take(b)
		take(b)
		clock.add(25 * time.Millisecond)
		m.Round()
	}
	if store.calls != calls {
		t.Errorf("a paused manager called redis %d times", store.calls-calls)
	}
	held := b.Tokens.Load()
	m.Close()
	if b.Tokens.Load() != held {
		t.Errorf("Close of a paused manager took the tokens of the buckets it handed on")
	}
}

// TestLeaseStartClose: the background rounds run until Close, which
// waits for them.
func TestLeaseStartClose(t *testing.T) {
	store := newFakeStore(time.Now)
	m := NewManager(store, Options{Window: 20 * time.Millisecond})
	b := newBucket()
	m.Set([]Limit{{ID: "a", Scope: "host", Name: "a.test", Rate: 1000, Burst: 1000, Bucket: b}})
	m.Start()
	deadline := time.Now().Add(5 * time.Second)
	for spent := 0; spent < 100; {
		if take(b) {
			spent++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d tokens in 5 s: the rounds do not run", spent)
		}
		time.Sleep(time.Millisecond)
	}
	m.Close()
	m.Close() // twice is fine
}

// TestLeaseHeartbeat: a manager whose limits need nothing still asks
// Redis every HeartbeatInterval, so that an idle machine sees Redis go
// away and falls back before its next request.
func TestLeaseHeartbeat(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock.Now)
	ms := newMachines(t, 1, store, clock, 100, 20, false, nil)
	m := ms[0]
	calls := store.calls
	for range 20 { // 500 ms idle
		clock.add(25 * time.Millisecond)
		m.m.Round()
	}
	if n := store.calls - calls; n < 1 || n > 3 {
		t.Errorf("%d round trips in 500 ms idle, want one per %v", n, HeartbeatInterval)
	}
	store.setDown(true)
	for range 12 {
		clock.add(25 * time.Millisecond)
		m.m.Round()
	}
	if mode := m.b.Mode.Load(); mode != wire.ModeLocal {
		t.Errorf("an idle machine's limit is in mode %d 300 ms after redis went, want local", mode)
	}
}
