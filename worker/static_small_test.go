package worker

import (
	"io/fs"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

// countingFS counts its opens.
type countingFS struct {
	fs.StatFS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	return c.StatFS.Open(name)
}

// A small file is read once and then answered from memory: more requests
// open nothing, and each gets the whole, right body; a changed file is
// read again.
func TestStaticSmallFilesFromMemory(t *testing.T) {
	mod := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	mfs := fstest.MapFS{"a.txt": {Data: []byte("first version"), ModTime: mod}}
	cfs := &countingFS{StatFS: mfs}
	sm := quietManager(t)
	if err := sm.RegisterHost("small.test", HostConfig{VirtualFS: cfs}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	send := fileClient(t, addr)
	get := func() string {
		t.Helper()
		_, b := send("GET", "small.test", "/a.txt")
		return string(b)
	}
	if got := get(); got != "first version" {
		t.Fatalf("first: %q", got)
	}
	opened := cfs.opens.Load()
	for range 20 {
		if got := get(); got != "first version" {
			t.Fatalf("from memory: %q", got)
		}
	}
	if n := cfs.opens.Load(); n != opened {
		t.Fatalf("20 more requests opened the file %d times", n-opened)
	}
	mfs["a.txt"] = &fstest.MapFile{Data: []byte("second, longer version"), ModTime: mod.Add(time.Second)}
	deadline := time.Now().Add(3 * statValid)
	for get() != "second, longer version" {
		if time.Now().After(deadline) {
			t.Fatal("the changed file was not read again")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
