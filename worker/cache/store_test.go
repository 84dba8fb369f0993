package cache

import (
	"fmt"
	"sync"
	"testing"
)

func newTestStore(t testing.TB, size int) *Store {
	t.Helper()
	mem := make([]uint64, size/8)
	s, err := NewStore(wordBytes(mem), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t testing.TB, s *Store, key, body string, tags string) {
	t.Helper()
	if !s.Put([]byte(key), &Entry{Fresh: 100, Tags: []byte(tags), Body: []byte(body)}) {
		t.Fatalf("Put %q refused", key)
	}
}

func get(s *Store, key string) (string, bool) {
	var e Entry
	if !s.Get([]byte(key), &e) {
		return "", false
	}
	return string(e.Body), true
}

func TestStoreTooSmall(t *testing.T) {
	if _, err := NewStore(make([]byte, 1024), 1, nil); err != ErrTooSmall {
		t.Fatalf("NewStore of 1KiB: %v, want ErrTooSmall", err)
	}
}

func TestStorePutGetReplace(t *testing.T) {
	s := newTestStore(t, MinStoreSize)
	put(t, s, "a", "one", "")
	put(t, s, "b", "two", "")
	if got, ok := get(s, "a"); !ok || got != "one" {
		t.Fatalf("Get a = %q %v", got, ok)
	}
	put(t, s, "a", "uno", "")
	if got, ok := get(s, "a"); !ok || got != "uno" {
		t.Fatalf("Get a after replace = %q %v", got, ok)
	}
	if _, ok := get(s, "c"); ok {
		t.Fatal("Get c found an entry never stored")
	}
	st := s.Stats()
	if st.Entries != 2 || st.Stores != 3 || st.Evictions != 0 {
		t.Fatalf("stats %+v, want 2 entries, 3 stores, no eviction", st)
	}
	if s.Put([]byte("big"), &Entry{Body: make([]byte, s.MaxEntry())}) {
		t.Fatal("an entry over MaxEntry was stored")
	}
}

// Filling the ring many times over evicts the oldest entries first, keeps
// the newest, and the byte count matches what is live.
func TestStoreEvictWrap(t *testing.T) {
	s := newTestStore(t, MinStoreSize)
	body := string(make([]byte, 1000))
	const n = 1000 // ~1MB through a 64KiB store
	for i := range n {
		put(t, s, fmt.Sprintf("k%d", i), body+fmt.Sprint(i), "")
	}
	if got, ok := get(s, fmt.Sprintf("k%d", n-1)); !ok || got != body+fmt.Sprint(n-1) {
		t.Fatalf("the newest entry is gone")
	}
	if _, ok := get(s, "k0"); ok {
		t.Fatal("the oldest entry survived a ring 15 times over")
	}
	st := s.Stats()
	if st.Evictions == 0 || st.Entries+st.Evictions != n {
		t.Fatalf("stats %+v: entries+evictions should be %d", st, n)
	}
	if st.Bytes > st.Size {
		t.Fatalf("bytes %d over size %d", st.Bytes, st.Size)
	}
	live := 0
	for i := range n {
		if _, ok := get(s, fmt.Sprintf("k%d", i)); ok {
			live++
		}
	}
	if uint64(live) != st.Entries {
		t.Fatalf("%d entries found, stats say %d", live, st.Entries)
	}
}

func TestStorePurge(t *testing.T) {
	s := newTestStore(t, MinStoreSize)
	for _, k := range []string{"t1\x00h\x00/a/1", "t1\x00h\x00/a/2", "t1\x00h\x00/b", "t2\x00h\x00/a/1"} {
		put(t, s, k, k, "")
	}
	put(t, s, "t1\x00h\x00/tagged", "x", "red blue")
	if n := s.Purge(Match("t1", "", "/a", "")); n != 2 {
		t.Fatalf("purged %d of t1's /a, want 2", n)
	}
	if _, ok := get(s, "t2\x00h\x00/a/1"); !ok {
		t.Fatal("a purge of t1 removed t2's entry")
	}
	if _, ok := get(s, "t1\x00h\x00/b"); !ok {
		t.Fatal("a purge of /a removed /b")
	}
	if n := s.Purge(Match("t1", "", "", "blue")); n != 1 {
		t.Fatalf("purged %d tagged blue, want 1", n)
	}
	if n := s.Purge(Match("t1", "", "", "")); n != 1 {
		t.Fatalf("purged %d of the rest of t1, want 1 (/b)", n)
	}
	if st := s.Stats(); st.Entries != 1 || st.Purged != 4 {
		t.Fatalf("stats %+v, want 1 entry, 4 purged", st)
	}
}

// Many goroutines filling and reading one store (as workers share one)
// see whole entries only.
func TestStoreConcurrent(t *testing.T) {
	s := newTestStore(t, 4*MinStoreSize)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var e Entry
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (i*7+g)%300)
				want := k + "-" + string(make([]byte, i%500))
				s.Put([]byte(k), &Entry{Fresh: 1, Body: []byte(want)})
				if s.Get([]byte(k), &e) && string(e.Body[:len(k)+1]) != k+"-" {
					t.Errorf("Get %q = %q", k, e.Body[:len(k)+1])
					return
				}
			}
		})
	}
	wg.Wait()
}

// A purge of a store larger than a chunk finds every entry.
func TestStorePurgeChunks(t *testing.T) {
	s := newTestStore(t, 4<<20)
	body := string(make([]byte, 4000))
	n := 0
	for i := 0; s.Stats().Evictions == 0 && i < 900; i++ {
		put(t, s, fmt.Sprintf("t\x00h\x00/p/%d", i), body, "")
		n++
	}
	if n*4000 < 2*purgeChunk {
		t.Fatalf("only %d entries", n)
	}
	if got := s.Purge(Match("t", "", "/p/", "")); got != n {
		t.Fatalf("purged %d of %d", got, n)
	}
	if st := s.Stats(); st.Entries != 0 {
		t.Fatalf("%d entries left", st.Entries)
	}
}
