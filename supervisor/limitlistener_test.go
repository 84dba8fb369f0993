package supervisor

import (
	"errors"
	"net"
	"testing"
	"time"
)

// limitListener hands out n connections, then waits for one to close; a
// Close wakes an Accept that waits for a slot, with net.ErrClosed.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 1)
	accepted := make(chan net.Conn)
	errs := make(chan error, 1)
	go func() { // ends when ln is closed
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				return
			}
			accepted <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	select {
	case c := <-accepted:
		c.Close()
		t.Fatal("a second connection was accepted past the limit of 1")
	case <-time.After(200 * time.Millisecond): // bounded look for what must not happen
	}
	first.Close()
	first.Close() // a second Close gives back nothing more
	select {
	case c := <-accepted:
		defer c.Close() // held: the next Accept waits for its slot
	case <-time.After(5 * time.Second):
		t.Fatal("the second connection was not accepted after the first closed")
	}
	ln.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	for range accepted { // drained and closed by the goroutine
	}
}
