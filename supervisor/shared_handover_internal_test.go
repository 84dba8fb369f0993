//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// adoptCopy maps s's region a second time, as a new master adopts it.
func adoptCopy(t *testing.T, s *sharedMem) *shm.Region {
	t.Helper()
	fd, err := unix.Dup(int(s.r.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := shm.Adopt(uintptr(fd))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func slotOf(t *testing.T, set []wire.LimitSlot, name string) wire.LimitSlot {
	t.Helper()
	for _, sl := range set {
		if sl.Name == name {
			return sl
		}
	}
	t.Fatalf("no slot for %s in %+v", name, set)
	return wire.LimitSlot{}
}

// TestSharedHandover: once handed over, the old master allocates and
// frees nothing; the new one gives an unchanged limit its old bucket or
// table, with its state, keeps the old master's limits and areas taken
// until its workers are gone, and then frees what no config uses.
func TestSharedHandover(t *testing.T) {
	one := &config.RateLimit{RequestsPerSecond: 10, Burst: 5}
	perClient := &config.RateLimit{RequestsPerSecond: 1, Burst: 1, Key: config.KeyClientIP, Size: 100}
	cfg := limitedConfig(map[string]*config.RateLimit{"a": one, "b": perClient})
	old, err := newSharedMem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.close()
	first, err := old.assign(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := slotOf(t, first, "a"), slotOf(t, first, "b")
	old.r.Int64(old.lay.BucketOff(a.Bucket)).Store(12345)
	old.r.Uint64(old.lay.SetOff(b.Set) + 8).Store(777) // an entry of b's table
	areas := []int{old.acquireArea(), old.acquireArea()}

	h, err := old.handOver()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.handOver(); !errors.Is(err, errHandedOver) {
		t.Fatalf("a second handover: %v, want errHandedOver", err)
	}
	if !slices.Equal(h.Areas, areas) || len(h.Limits) != 2 {
		t.Fatalf("handover %+v; areas in use %v", h, areas)
	}
	if _, err := old.assign(limitedConfig(map[string]*config.RateLimit{"c": one})); !errors.Is(err, errHandedOver) {
		t.Fatalf("assign after the handover: %v, want errHandedOver", err)
	}
	old.collect(nil)
	if v := old.r.Int64(old.lay.BucketOff(a.Bucket)).Load(); v != 12345 {
		t.Fatalf("the old master freed a bucket it handed over: %d", v)
	}

	r := adoptCopy(t, old)
	s, err := adoptSharedMem(r, h)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	defer s.close()
	other := &config.RateLimit{RequestsPerSecond: 10, Burst: 9}
	next := limitedConfig(map[string]*config.RateLimit{"a": one, "c": other, "d": perClient})
	got, err := s.assign(next)
	if err != nil {
		t.Fatal(err)
	}
	if slotOf(t, got, "a") != a {
		t.Fatalf("unchanged a got %+v, had %+v", slotOf(t, got, "a"), a)
	}
	if v := s.r.Int64(s.lay.BucketOff(a.Bucket)).Load(); v != 12345 {
		t.Fatalf("a's bucket holds %d after the handover", v)
	}
	c, d := slotOf(t, got, "c"), slotOf(t, got, "d")
	if c.Bucket == a.Bucket || d.Set < b.Set+b.Sets && b.Set < d.Set+d.Sets {
		t.Fatalf("new limits c %+v, d %+v overlap a %+v or b %+v", c, d, a, b)
	}
	if ar := s.acquireArea(); slices.Contains(areas, ar) {
		t.Fatalf("a new worker got area %d, which the old master's workers use", ar)
	}
	// b is the old workers' until they are gone, then free.
	s.collect([][]wire.LimitSlot{got})
	if v := s.r.Uint64(s.lay.SetOff(b.Set) + 8).Load(); v != 777 {
		t.Fatalf("b's table was freed while the old workers may use it: %d", v)
	}
	s.oldMasterGone()
	s.collect([][]wire.LimitSlot{got})
	if v := s.r.Uint64(s.lay.SetOff(b.Set) + 8).Load(); v != 0 {
		t.Fatalf("b's table was not freed once the old workers were gone: %d", v)
	}
	if v := s.r.Int64(s.lay.BucketOff(a.Bucket)).Load(); v != 12345 {
		t.Fatalf("a, still configured, was freed: %d", v)
	}

	// An upgrade that failed gives the old master its region back.
	old.takeBack()
	if _, err := old.assign(cfg); err != nil {
		t.Fatalf("assign after takeBack: %v", err)
	}
}

// TestSharedHandoverRejectsBadState: a state that does not describe the
// region, or a region of another layout, is not adopted.
func TestSharedHandoverRejectsBadState(t *testing.T) {
	cfg := limitedConfig(map[string]*config.RateLimit{"a": {RequestsPerSecond: 10, Burst: 5}})
	old, err := newSharedMem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.close()
	good := sharedHandover{Version: handoverVersion}
	bucket := func(name string, i int) wire.LimitSlot {
		return wire.LimitSlot{Scope: "host", Name: name, Bucket: i}
	}
	table := func(name string, set, sets int) wire.LimitSlot {
		return wire.LimitSlot{Scope: "host", Name: name, Bucket: -1, Set: set, Sets: sets}
	}
	cases := map[string]sharedHandover{
		"version":        {Version: handoverVersion + 1},
		"bucket range":   {Version: handoverVersion, Limits: []wire.LimitSlot{bucket("a", old.lay.Buckets)}},
		"bucket twice":   {Version: handoverVersion, Limits: []wire.LimitSlot{bucket("a", 3), bucket("b", 3)}},
		"limit twice":    {Version: handoverVersion, Limits: []wire.LimitSlot{bucket("a", 3), bucket("a", 4)}},
		"sets overlap":   {Version: handoverVersion, Limits: []wire.LimitSlot{table("a", 0, 4), table("b", 3, 4)}},
		"sets past end":  {Version: handoverVersion, Limits: []wire.LimitSlot{table("a", old.lay.ArenaSets-1, 2)}},
		"sets wrap":      {Version: handoverVersion, Limits: []wire.LimitSlot{table("a", math.MaxInt, 1)}},
		"no sets":        {Version: handoverVersion, Limits: []wire.LimitSlot{table("a", 0, 0)}},
		"area range":     {Version: handoverVersion, Areas: []int{old.lay.Areas}},
		"negative area":  {Version: handoverVersion, Areas: []int{-1}},
		"negative start": {Version: handoverVersion, Limits: []wire.LimitSlot{table("a", -1, 2)}},
	}
	for name, h := range cases {
		r := adoptCopy(t, old)
		s, err := adoptSharedMem(r, h)
		r.Close()
		if err == nil {
			s.close()
			t.Errorf("%s: a bad state was adopted", name)
		}
	}
	r := adoptCopy(t, old)
	if s, err := adoptSharedMem(r, good); err != nil {
		t.Errorf("an empty state: %v", err)
	} else {
		s.close()
	}
	// A region of another layout version.
	old.r.Uint64(wire.HdrVersion).Store(wire.Version + 1)
	r = adoptCopy(t, old)
	if s, err := adoptSharedMem(r, good); !errors.Is(err, wire.ErrBadShared) {
		if s != nil {
			s.close()
		}
		t.Errorf("a region of another version: %v, want wire.ErrBadShared", err)
	}
	r.Close()
}

// Descriptors that are not what an old master passes (a stray
// environment) are left alone, and the master makes a fresh region.
func TestOpenSharedMemLeavesStrayFDsAlone(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	t.Setenv(envInherit, "x")
	t.Setenv(envInheritShared, fmt.Sprintf("%d,%d,%d", null.Fd(), pr.Fd(), pw.Fd()))
	nop := zerolog.Nop()
	m := New(Options{ConfigPath: "unused", Log: &nop})
	s, err := m.openSharedMem(limitedConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if len(s.oldAreas) != 0 || m.oldMaster != nil {
		t.Fatalf("adopted something from stray fds: %+v", s)
	}
	for _, f := range []*os.File{null, pr, pw} {
		if _, err := f.Stat(); err != nil {
			t.Fatalf("%s was closed: %v", f.Name(), err)
		}
	}
}
