package supervisor_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A connection flood past max_connections on the real binary: the
// connections over the limit get 503 and are closed, the ones within it
// are served, no process dies, and once the flood is gone every client is
// served again.
func TestConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	const perWorker, flood = 16, 400
	cfg := strings.Replace(configText(2, "hello"), "[[server]]\nlisten = \"127.0.0.1:0\"",
		"[[server]]\nlisten = \"127.0.0.1:0\"\nmax_connections = 16", 1)
	m := startMaster(t, cfg)
	pids := m.waitWorkers(2, 10*time.Second)
	master := m.pid()

	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	codes := map[string]int{}
	var wg sync.WaitGroup
	for range flood {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", m.addr, 5*time.Second)
			if err != nil {
				mu.Lock()
				codes["dial: "+err.Error()]++
				mu.Unlock()
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			code := "no answer"
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.test\r\n\r\n"); err == nil {
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.Status
					if resp.StatusCode == 503 && !resp.Close {
						code += " without Connection: close"
					}
				} else if isClosed(err) {
					code = "closed"
				}
			}
			mu.Lock()
			codes[code]++
			held = append(held, c) // keep-alive: the served ones hold their slot
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d connections: %v", flood, codes)
	ok, refused := codes["200 OK"], codes["503 Service Unavailable"]
	if ok == 0 || refused == 0 || ok+refused != flood {
		t.Errorf("want every connection answered 200 or 503 with Connection: close, some of each: %v", codes)
	}
	// Each worker may hold max_connections per socket it serves.
	if ok > 2*2*perWorker {
		t.Errorf("%d connections served at once, over max_connections", ok)
	}
	for _, p := range append(pids, master) {
		if !alive(p) {
			t.Fatalf("process %d died in the flood", p)
		}
	}
	if got := m.waitWorkers(2, 5*time.Second); !samePids(got, pids) {
		t.Errorf("workers changed in the flood: %v -> %v", pids, got)
	}
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	held = nil
	mu.Unlock()
	waitFor(t, "a normal request served after the flood", 5*time.Second, func() bool {
		code, body, err := m.get("hello.test", "/")
		return err == nil && code == 200 && body == "hello"
	})
}

func isClosed(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF || strings.Contains(err.Error(), "reset") || err == syscall.ECONNRESET
}

func samePids(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[int]bool{}
	for _, p := range a {
		seen[p] = true
	}
	for _, p := range b {
		if !seen[p] {
			return false
		}
	}
	return true
}
