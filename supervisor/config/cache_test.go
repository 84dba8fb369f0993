package config

import (
	"errors"
	"testing"
	"time"
)

func TestCacheConfig(t *testing.T) {
	c := mustParse(t, srv+`
[[host]]
hostname = "a.test"
tenant = "t"
respond = "hi"
cache = { ttl = "5m", max_size = "256MB" }

[[host]]
hostname = "b.test"
tenant = "t"
proxy = { upstreams = ["127.0.0.1:1"] }
cache = {}

[[host]]
hostname = "c.test"
proxy = { upstreams = ["127.0.0.1:1"] }
cache = { max_size = 1048576 }

[[tenant]]
id = "t"
hosts = ["a.test", "b.test"]
`)
	if got := c.Hosts[0].Cache; got == nil || got.TTL != 5*time.Minute || got.MaxSize != 256<<20 {
		t.Fatalf("a.test cache %+v", got)
	}
	if got := c.Hosts[1].Cache; got == nil || got.TTL != DefaultCacheTTL || got.MaxSize != DefaultCacheMaxSize {
		t.Fatalf("b.test cache %+v, want the defaults", got)
	}
	sizes := c.CacheSizes()
	if sizes["t"] != 256<<20+DefaultCacheMaxSize || sizes[""] != 1<<20 || len(sizes) != 2 {
		t.Fatalf("CacheSizes %v", sizes)
	}
	c2 := mustParse(t, srv+`
[[host]]
hostname = "a.test"
tenant = "t"
respond = "hi"
cache = { ttl = "1m" }

[[tenant]]
id = "t"
cache_quota = "2GiB"
`)
	if got := c2.CacheSizes()["t"]; got != 2<<30 {
		t.Fatalf("quota: size %d, want 2GiB", got)
	}
	if !Diff(c, c2).Cache || !Diff(c, c2).NewGeneration() {
		t.Fatal("a cache size change is not a new generation")
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256MB", 256 << 20, true}, {"1GiB", 1 << 30, true}, {"64k", 64 << 10, true}, {"1.5 MB", 3 << 19, true},
		{"100", 100, true}, {"100B", 100, true}, {"", 0, false}, {"MB", 0, false}, {"12XB", 0, false},
		{"-1MB", 0, false}, {"1e400GB", 0, false},
	} {
		got, ok := parseByteSize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseByteSize(%q) = %d %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCacheConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want want
	}{
		{"unknown key", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\ncache = { tll = \"1s\" }\n", want{6, "host[0].cache.tll", ErrUnknownKey}},
		{"bad size", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\ncache = { max_size = \"lots\" }\n", want{6, "host[0].cache.max_size", ErrInvalid}},
		{"size too small", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\ncache = { max_size = \"1KB\" }\n", want{6, "host[0].cache.max_size", ErrInvalid}},
		{"size not a string", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\ncache = { max_size = true }\n", want{6, "host[0].cache.max_size", ErrType}},
		{"bad ttl", srv + "[[host]]\nhostname = \"a.test\"\nrespond = \"x\"\ncache = { ttl = \"soon\" }\n", want{6, "host[0].cache.ttl", ErrInvalid}},
		{"with root", srv + "[[host]]\nhostname = \"a.test\"\nroot = \"/srv\"\ncache = {}\n", want{6, "host[0].cache", ErrConflict}},
		{"bad quota", srv + "[[host]]\nhostname = \"a.test\"\n[[tenant]]\nid = \"t\"\nhosts = [\"a.test\"]\ncache_quota = \"0\"\n", want{8, "tenant[0].cache_quota", ErrInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.doc)
			ps := problems(t, err)
			if len(ps) != 1 || ps[0].Line != tc.want.line || ps[0].Field != tc.want.field || !errors.Is(ps[0], tc.want.err) {
				for _, p := range ps {
					t.Logf("problem: line %d field %s: %v", p.Line, p.Field, p)
				}
				t.Fatalf("want one problem at line %d, field %s, %v", tc.want.line, tc.want.field, tc.want.err)
			}
		})
	}
}
