package worker

import (
	"context"
	"errors"
	"sync"
	"time"
)

// drainGrace is how long a draining server waits for busy keep-alive
// connections to take their last request (answered with Connection: close)
// before it closes the connections that stayed idle.
const drainGrace = time.Second

// Drain retires every listening server without dropping a request:
//
//  1. for linger, it keeps accepting: a supervisor that has just steered new
//     connections away from this worker's sockets lets the ones already
//     queued arrive;
//  2. it stops accepting; from now on every response says Connection: close
//     and ends its connection, so a client is never cut off while sending;
//  3. after a short grace, connections that stayed idle are closed, and the
//     rest are waited for until ctx ends, when they are closed too and the
//     error wraps ctx's cause.
//
// Every Listen and Serve call then returns nil.
func (m *serverManager) Drain(ctx context.Context, linger time.Duration) error {
	if linger > 0 {
		t := time.NewTimer(linger)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	m.mu.Lock()
	bindings := m.allBindingsLocked()
	m.mu.Unlock()

	errs := make([]error, len(bindings))
	var wg sync.WaitGroup
	for i, b := range bindings {
		wg.Go(func() { errs[i] = b.drain(ctx) })
	}
	wg.Wait()

	m.mu.Lock()
	for _, b := range bindings {
		for _, s := range b.members {
			s.bound = nil
			close(s.released)
		}
		b.members = nil
		if m.bindings[b.addr] == b {
			delete(m.bindings, b.addr)
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

func (b *binding) drain(ctx context.Context) error {
	b.draining.Store(true)
	b.stopping.Store(true)
	_ = b.ln.Close() // Serve returns; connections being served go on
	// HTTP/2 and HTTP/3 get GOAWAY now.
	b.tls.shutdown(ctx)
	grace := time.NewTimer(drainGrace)
	defer grace.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for b.active.Load() > 0 {
		select {
		case <-grace.C:
			break wait
		case <-ctx.Done():
			break wait
		case <-tick.C:
		}
	}
	return b.shutdown(ctx)
}
