package proxy

import (
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// memWatch samples the heap while a transfer runs.
type memWatch struct {
	base      runtime.MemStats
	peakInuse uint64
	stop      chan struct{}
	wg        sync.WaitGroup
}

func watchMemory() *memWatch {
	runtime.GC()
	w := &memWatch{stop: make(chan struct{})}
	runtime.ReadMemStats(&w.base)
	w.peakInuse = w.base.HeapInuse
	w.wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				w.peakInuse = max(w.peakInuse, m.HeapInuse)
			}
		}
	})
	return w
}

// done returns how far the heap in use grew at its peak, and how much was
// allocated in all.
func (w *memWatch) done() (grew, allocated uint64) {
	close(w.stop)
	w.wg.Wait()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return w.peakInuse - min(w.base.HeapInuse, w.peakInuse), m.TotalAlloc - w.base.TotalAlloc
}

// A 100 MB download and a 100 MB upload (with a length, and chunked) pass
// through the proxy without being held in memory: the heap stays flat.
// The upstream, the proxy and the client all run in this process, so the
// bounds cover all three.
func TestProxyStreamsBodiesBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MB")
	}
	const size = 100 << 20
	const maxGrowth = 24 << 20 // a quarter of the transfer: wide, yet far below it
	a := pxUpstream(t, "a")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{MaxRequestSize: 1 << 30})
	c := pxClient(t)
	c.Timeout = 2 * time.Minute // slow under -race on a small machine
	check := func(name string, run func() (int64, error)) {
		t.Helper()
		w := watchMemory()
		n, err := run()
		grew, allocated := w.done()
		t.Logf("%s: %d bytes; heap in use grew %.1f MB at its peak, %.1f MB allocated in all",
			name, n, float64(grew)/(1<<20), float64(allocated)/(1<<20))
		if err != nil || n != size {
			t.Fatalf("%s: %d bytes, %v; want %d", name, n, err, size)
		}
		if grew > maxGrowth || allocated > 2*maxGrowth {
			t.Errorf("%s: heap grew %d bytes, %d allocated; want under %d and %d", name, grew, allocated, maxGrowth, 2*maxGrowth)
		}
	}
	for _, path := range []string{"/big", "/chunked"} {
		check("download "+path, func() (int64, error) {
			req, _ := http.NewRequest("GET", "http://"+addr+path+"?n="+strconv.Itoa(size), nil)
			req.Host = "proxy.test"
			resp, err := c.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			return io.Copy(io.Discard, resp.Body)
		})
	}
	for _, chunked := range []bool{false, true} {
		check("upload chunked="+strconv.FormatBool(chunked), func() (int64, error) {
			var body io.Reader = &pxPattern{left: size}
			req, _ := http.NewRequest("PUT", "http://"+addr+"/upload", body)
			req.Host = "proxy.test"
			if !chunked {
				req.ContentLength = size
			}
			resp, err := c.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return strconv.ParseInt(string(b), 10, 64)
		})
	}
	// Every streamed body gave its upstream request back.
	waitFor(t, "no request in flight", 2*time.Second, func() bool {
		return p.pool.Load().ups[0].inflight.Load() == 0
	})
}

// A client that stops reading a large download does not keep the
// upstream's request open once its connection is gone.
func TestProxyAbandonedDownloadEnds(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/big?n="+strconv.Itoa(1<<30), nil)
	req.Host = "proxy.test"
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // closes the connection mid-body
	waitFor(t, "the upstream request to end", 5*time.Second, func() bool {
		return p.pool.Load().ups[0].inflight.Load() == 0
	})
}
