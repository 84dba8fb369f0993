package worker

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hundreds of slowloris connections, each sending its headers a byte at a
// time, are all cut off at ReadTimeout, while a normal client keeps being
// served the whole time.
func TestSlowlorisHundreds(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const (
		conns       = 300
		readTimeout = 500 * time.Millisecond
	)
	addr := badInputServer(t, ServerConfig{ReadTimeout: readTimeout, IdleTimeout: readTimeout})
	head := []byte("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
	var cut atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			start := time.Now()
			_ = c.SetDeadline(start.Add(10 * time.Second))
			done := make(chan struct{})
			var dripper sync.WaitGroup
			dripper.Go(func() { // one byte every 20 ms, forever
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					case <-time.After(20 * time.Millisecond):
					}
					b := byte('x')
					if i < len(head) {
						b = head[i]
					}
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
				}
			})
			_, err := io.Copy(io.Discard, c) // until the server closes it
			close(done)
			dripper.Wait()
			if err == nil || isReset(err) {
				cut.Add(1)
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
			}
		})
	}
	// Meanwhile an ordinary client is served, again and again.
	served := 0
	for time.Since(begin) < 2*readTimeout {
		stillServes(t, addr, "during the slowloris")
		served++
	}
	wg.Wait()
	if got := cut.Load(); got != conns {
		t.Fatalf("%d of %d slowloris connections cut off by the server", got, conns)
	}
	if d := time.Duration(slowest.Load()); d > 5*time.Second {
		t.Fatalf("the last slowloris connection lasted %s, want about %s", d, readTimeout)
	}
	t.Logf("%d slowloris connections cut off (slowest after %s); %d normal requests served meanwhile",
		conns, time.Duration(slowest.Load()).Round(time.Millisecond), served)
}
