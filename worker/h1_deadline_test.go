package worker

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the server's
// wrapped in a lazyDeadlineConn.
func tcpPair(t testing.TB) (*lazyDeadlineConn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	lc := newLazyDeadlineConn(server)
	t.Cleanup(func() { lc.Close(); client.Close() })
	return lc, client
}

// readTimesOutAfter reads from c and returns how long until it failed with
// a timeout; it fails the test on data or another error.
func readTimesOutAfter(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	begin := time.Now()
	n, err := c.Read(make([]byte, 16))
	took := time.Since(begin)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %d, %v after %s; want a timeout", n, err, took)
	}
	return took
}

func TestLazyDeadlineTimesOutOnTime(t *testing.T) {
	c, _ := tcpPair(t)
	const d = 150 * time.Millisecond
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	if took := readTimesOutAfter(t, c); took < d-10*time.Millisecond || took > d+time.Second {
		t.Errorf("timed out after %s, want about %s", took, d)
	}
}

func TestLazyDeadlineInThePastFailsAtOnce(t *testing.T) {
	c, client := tcpPair(t)
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if took := readTimesOutAfter(t, c); took > 100*time.Millisecond {
		t.Errorf("a past deadline took %s to fail a Read", took)
	}
	// As with a socket, a later deadline makes it usable again.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	client.Write([]byte("x"))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read after a new deadline: %v", err)
	}
}

func TestLazyDeadlineMovedLaterDoesNotFire(t *testing.T) {
	c, client := tcpPair(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	time.Sleep(20 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	go func() {
		time.Sleep(200 * time.Millisecond) // well past the first deadline
		client.Write([]byte("x"))
	}()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read after the deadline was moved later: %v", err)
	}
}

func TestLazyDeadlineArmedThenMovedLater(t *testing.T) {
	c, client := tcpPair(t)
	// Within armSlack: on the socket at once.
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	readTimesOutAfter(t, c)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	go func() {
		time.Sleep(100 * time.Millisecond)
		client.Write([]byte("x"))
	}()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read after an expired deadline was moved later: %v", err)
	}
}

func TestLazyDeadlineCleared(t *testing.T) {
	c, client := tcpPair(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(200 * time.Millisecond)
		client.Write([]byte("x"))
	}()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read after the deadline was cleared: %v", err)
	}
}

func TestLazyWriteDeadline(t *testing.T) {
	c, _ := tcpPair(t) // the client never reads
	const d = 200 * time.Millisecond
	_ = c.SetWriteDeadline(time.Now().Add(d))
	_ = c.SetReadDeadline(time.Now().Add(time.Hour)) // the timer serves both
	chunk := make([]byte, 256<<10)
	begin := time.Now()
	var err error
	for time.Since(begin) < 10*time.Second {
		if _, err = c.Write(chunk); err != nil {
			break
		}
	}
	took := time.Since(begin)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a client that reads nothing: %v after %s, want a timeout", err, took)
	}
	if took < d-10*time.Millisecond || took > d+time.Second {
		t.Errorf("write timed out after %s, want about %s", took, d)
	}
}

func TestLazyDeadlineSetDeadlineSetsBoth(t *testing.T) {
	c, _ := tcpPair(t)
	_ = c.SetDeadline(time.Now().Add(30 * time.Millisecond))
	readTimesOutAfter(t, c)
	c.mu.Lock()
	armed := c.armedR && c.armedW
	c.mu.Unlock()
	if !armed {
		t.Error("SetDeadline did not arm both deadlines when they came")
	}
}

// countingConn counts the deadline calls that reach the socket.
type countingConn struct {
	net.Conn
	calls atomic.Int64
}

func (c *countingConn) SetReadDeadline(time.Time) error  { c.calls.Add(1); return nil }
func (c *countingConn) SetWriteDeadline(time.Time) error { c.calls.Add(1); return nil }
func (c *countingConn) SetDeadline(time.Time) error      { c.calls.Add(1); return nil }
func (c *countingConn) Close() error                     { return nil }

// The point of it all: a busy keep-alive connection's deadlines, set three
// times a request, do not reach the socket.
func TestLazyDeadlineKeepAliveReachesNoSocket(t *testing.T) {
	cc := &countingConn{}
	c := newLazyDeadlineConn(cc)
	defer c.Close()
	for range 1000 {
		now := time.Now()
		_ = c.SetReadDeadline(now.Add(60 * time.Second)) // idle
		_ = c.SetReadDeadline(now.Add(30 * time.Second)) // read
		_ = c.SetWriteDeadline(now.Add(30 * time.Second))
	}
	if n := cc.calls.Load(); n != 0 {
		t.Errorf("%d deadline calls reached the socket, want 0", n)
	}
}

func TestLazyDeadlineAfterClose(t *testing.T) {
	c, _ := tcpPair(t)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	c.Close()
	time.Sleep(50 * time.Millisecond) // the timer must not act on a closed conn
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err == nil {
		t.Error("SetReadDeadline on a closed conn: no error")
	}
}

// Deadlines set while the timer fires: run with -race.
func TestLazyDeadlineConcurrentWithTimer(t *testing.T) {
	c, _ := tcpPair(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				d := time.Duration((i+g)%7) * time.Millisecond
				_ = c.SetReadDeadline(time.Now().Add(d))
				_ = c.SetWriteDeadline(time.Now().Add(d + time.Millisecond))
			}
		})
	}
	wg.Wait()
	// Whatever happened, a deadline set now still holds.
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Millisecond))
	if took := readTimesOutAfter(t, c); took > time.Second {
		t.Errorf("timed out after %s", took)
	}
}

// BenchmarkKeepAliveDeadlines is the three deadlines fasthttp sets on a
// keep-alive connection for every request, on the socket and lazily.
func BenchmarkKeepAliveDeadlines(b *testing.B) {
	for _, lazy := range []bool{false, true} {
		name := "socket"
		if lazy {
			name = "lazy"
		}
		b.Run(name, func(b *testing.B) {
			lc, _ := tcpPair(b)
			var c net.Conn = lc.Conn
			if lazy {
				c = lc
			}
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				_ = c.SetReadDeadline(now.Add(60 * time.Second))
				_ = c.SetReadDeadline(now.Add(30 * time.Second))
				_ = c.SetWriteDeadline(now.Add(30 * time.Second))
			}
		})
	}
}
