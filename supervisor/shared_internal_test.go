package supervisor

import (
	"errors"
	"testing"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil/shm"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

func limitedConfig(limits map[string]*config.RateLimit) *config.Config {
	cfg := &config.Config{Supervisor: config.Supervisor{Workers: 2}, Servers: []config.Server{{Listen: ":80"}}}
	for name, rl := range limits {
		cfg.Hosts = append(cfg.Hosts, config.Host{Hostname: name, RateLimit: rl})
	}
	return cfg
}

// TestSharedAssign: an unchanged limit keeps its bucket across
// assignments, a changed one gets a fresh, zeroed one, and collect frees
// only what no live assignment names.
func TestSharedAssign(t *testing.T) {
	one := &config.RateLimit{RequestsPerSecond: 10, Burst: 5}
	perClient := &config.RateLimit{RequestsPerSecond: 1, Burst: 1, Key: config.KeyClientIP, Size: 100}
	s, err := newSharedMem(limitedConfig(map[string]*config.RateLimit{"a": one, "b": perClient}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	first, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": one, "b": perClient}))
	if err != nil {
		t.Fatal(err)
	}
	slot := func(set []wire.LimitSlot, name string) wire.LimitSlot {
		for _, sl := range set {
			if sl.Name == name {
				return sl
			}
		}
		t.Fatalf("no slot for %s in %+v", name, set)
		return wire.LimitSlot{}
	}
	a1, b1 := slot(first, "a"), slot(first, "b")
	if a1.Bucket < 0 || b1.Bucket != -1 || b1.Sets != shm.TableSets(100) {
		t.Fatalf("a %+v, b %+v", a1, b1)
	}
	s.r.Int64(s.lay.BucketOff(a1.Bucket)).Store(12345) // state to keep

	changed := &config.RateLimit{RequestsPerSecond: 10, Burst: 6}
	second, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": changed, "b": perClient}))
	if err != nil {
		t.Fatal(err)
	}
	a2, b2 := slot(second, "a"), slot(second, "b")
	if a2.Bucket == a1.Bucket || b2 != b1 {
		t.Fatalf("changed a got %+v (was %+v); unchanged b got %+v (was %+v)", a2, a1, b2, b1)
	}
	if v := s.r.Int64(s.lay.BucketOff(a2.Bucket)).Load(); v != 0 {
		t.Fatalf("fresh bucket holds %d", v)
	}
	// While both assignments may be in use, nothing is freed.
	s.collect([][]wire.LimitSlot{first, second})
	if v := s.r.Int64(s.lay.BucketOff(a1.Bucket)).Load(); v != 12345 {
		t.Fatalf("a live bucket was freed: %d", v)
	}
	// Once only the second is, a1 is zeroed and handed out again.
	s.collect([][]wire.LimitSlot{second})
	if v := s.r.Int64(s.lay.BucketOff(a1.Bucket)).Load(); v != 0 {
		t.Fatalf("freed bucket holds %d", v)
	}
	third, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": changed, "b": perClient, "c": one}))
	if err != nil {
		t.Fatal(err)
	}
	if c := slot(third, "c"); c.Bucket != a1.Bucket {
		t.Errorf("c got bucket %d, want the freed %d", c.Bucket, a1.Bucket)
	}
	// Removing b frees its table, and the arena merges it back whole.
	s.collect([][]wire.LimitSlot{third[:0]})
	if len(s.freeSets) != 1 || s.freeSets[0] != (extent{0, s.lay.ArenaSets}) {
		t.Errorf("free sets after freeing everything: %v", s.freeSets)
	}
}

func TestSharedFull(t *testing.T) {
	huge := &config.RateLimit{RequestsPerSecond: 1, Key: config.KeyClientIP, Size: config.MaxClientTableSize}
	s, err := newSharedMem(limitedConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := s.assign(limitedConfig(map[string]*config.RateLimit{"a": huge})); !errors.Is(err, ErrSharedFull) {
		t.Fatalf("assign of a table larger than the arena: %v, want ErrSharedFull", err)
	}
	if len(s.slots) != 0 {
		t.Fatalf("a failed assign kept %v", s.slots)
	}
}
