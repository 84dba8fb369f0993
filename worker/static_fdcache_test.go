package worker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// bigFile is n bytes that differ at every offset modulo 251, so a byte
// read from the wrong place shows.
func bigFile(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ salt
	}
	return b
}

// A big file is opened once and then served from the kept descriptor:
// more requests, whole and ranged, open nothing and get the right bytes;
// answers at once read it at their own offsets; a changed file is opened
// again and served as it is now.
func TestStaticBigFilesKeptOpen(t *testing.T) {
	dir := t.TempDir()
	for name, fsys := range osSystems(t, dir) {
		t.Run(name, func(t *testing.T) { testBigFilesKeptOpen(t, dir, fsys.(fs.StatFS)) })
	}
}

func testBigFilesKeptOpen(t *testing.T, dir string, fsys fs.StatFS) {
	first := bigFile(3<<20, 0)
	path := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	cfs := &countingFS{StatFS: fsys}
	sm := quietManager(t)
	if err := sm.RegisterHost("big.test", HostConfig{VirtualFS: cfs}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	send := fileClient(t, addr)
	if _, b := send("GET", "big.test", "/big.bin"); !bytes.Equal(b, first) {
		t.Fatalf("first answer: %d bytes, not the file's", len(b))
	}
	opened := cfs.opens.Load()

	// Concurrent answers, whole and ranged, on connections of their own.
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	fetch := func(rng string) ([]byte, error) {
		req, err := http.NewRequest("GET", "http://"+addr+"/big.bin", nil)
		if err != nil {
			return nil, err
		}
		req.Host = "big.test"
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		wg.Go(func() {
			for j := range 4 {
				rng, want := "", first
				if (i+j)%2 == 1 {
					start := 1000 * (i + 1)
					rng, want = fmt.Sprintf("bytes=%d-%d", start, start+99999), first[start:start+100000]
				}
				got, err := fetch(rng)
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("range %q: %d bytes, not the file's", rng, len(got))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := cfs.opens.Load() - opened; n != 0 {
		t.Errorf("64 more answers opened the file %d times, want 0", n)
	}

	second := bigFile(2<<20, 0x5a)
	tmp := filepath.Join(dir, "big.tmp")
	if err := os.WriteFile(tmp, second, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // as a deploy replaces it
		t.Fatal(err)
	}
	waitFor(t, "the replaced file served", 3*statValid, func() bool {
		_, b := send("GET", "big.test", "/big.bin")
		return bytes.Equal(b, second)
	})
}

// The cache's own bookkeeping: a changed file's old descriptor is closed
// once its last reader lets go, never before; a host keeps at most
// fdCacheMax files; a filesystem without *os.File turns it off.
func TestFDCache(t *testing.T) {
	dir := t.TempDir()
	fsys := os.DirFS(dir)
	write := func(name string, salt byte) fs.FileInfo {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bigFile(smallFileMax+1+int(salt), salt), 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	c := newFDCache()
	info := write("a", 0)
	h1, err := c.open(fsys, "a", info)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := c.open(fsys, "a", info)
	if err != nil {
		t.Fatal(err)
	}
	old := h1.(*keptFile).of
	if h2.(*keptFile).of != old {
		t.Fatal("the same file was opened twice")
	}
	newer := write("a", 1) // another size: another file
	h3, err := c.open(fsys, "a", newer)
	if err != nil {
		t.Fatal(err)
	}
	if h3.(*keptFile).of == old {
		t.Fatal("the changed file was served from the old descriptor")
	}
	h1.Close()
	h1.Close() // twice: still one release
	if _, err := old.f.Stat(); err != nil {
		t.Fatalf("the old descriptor was closed while an answer reads it: %v", err)
	}
	h2.Close()
	if _, err := old.f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("the old descriptor is still open after its last reader: %v", err)
	}
	h3.Close()

	for i := range fdCacheMax + 5 {
		name := fmt.Sprintf("f%d", i)
		h, err := c.open(fsys, name, write(name, 2))
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	if n := len(c.m); n > fdCacheMax {
		t.Errorf("%d files kept open, want at most %d", n, fdCacheMax)
	}

	mfs := fstest.MapFS{"m": {Data: bigFile(smallFileMax+1, 0)}}
	minfo, _ := fs.Stat(mfs, "m")
	m := newFDCache()
	if _, err := m.open(mfs, "m", minfo); !errors.Is(err, errNotKept) {
		t.Fatalf("a MapFS file: %v, want errNotKept", err)
	}
	if !m.off.Load() {
		t.Error("a filesystem without *os.File left the cache on")
	}
}

// A kept file's handle reads and seeks by its own offset.
func TestKeptFileReadSeek(t *testing.T) {
	dir := t.TempDir()
	want := bigFile(smallFileMax+10, 3)
	if err := os.WriteFile(filepath.Join(dir, "f"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(dir)
	info, _ := fs.Stat(fsys, "f")
	c := newFDCache()
	a, err := c.open(fsys, "f", info)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := c.open(fsys, "f", info)
	defer b.Close()
	var p [10]byte
	if _, err := io.ReadFull(a, p[:]); err != nil || !bytes.Equal(p[:], want[:10]) {
		t.Fatalf("a's first read: %v", err)
	}
	if _, err := b.(io.Seeker).Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(rest, want[len(want)-10:]) {
		t.Fatalf("b from the end: %d bytes, %v", len(rest), err)
	}
	if _, err := io.ReadFull(a, p[:]); err != nil || !bytes.Equal(p[:], want[10:20]) {
		t.Fatalf("a's second read moved with b's: %v", err)
	}
	if _, err := a.(io.Seeker).Seek(-1, io.SeekStart); err == nil {
		t.Error("a seek before the start succeeded")
	}
}

// On Linux a kept file's body goes to a TCP socket by sendfile from the
// handle's own offset, and the limit fasthttp set is spent; to anything
// else it is not sent that way.
func TestSendKept(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sendfile at an offset is Linux's")
	}
	dir := t.TempDir()
	want := bigFile(smallFileMax+4096, 7)
	if err := os.WriteFile(filepath.Join(dir, "f"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(dir)
	info, _ := fs.Stat(fsys, "f")
	f, err := newFDCache().open(fsys, "f", info)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k := f.(*keptFile)
	k.off = 100

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, sent, _ := sendKept(a, &io.LimitedReader{R: k, N: 10}); sent {
		t.Fatal("sent by sendfile to a net.Pipe")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		body, _ := io.ReadAll(c)
		got <- body
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	lr := &io.LimitedReader{R: k, N: int64(len(want))} // more than is left
	n, sent, err := sendKept(c, lr)
	c.Close()
	if !sent || err != nil {
		t.Fatalf("sendKept to TCP: sent %v, %v", sent, err)
	}
	if rest := want[100:]; n != int64(len(rest)) || !bytes.Equal(<-got, rest) {
		t.Fatalf("sent %d bytes, want the %d from offset 100", n, len(rest))
	}
	if k.off != int64(len(want)) || lr.N != 100 {
		t.Errorf("after: offset %d, limit left %d; want %d and 100", k.off, lr.N, len(want))
	}
}
