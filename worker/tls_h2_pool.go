package worker

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// h2Pool runs the handlers of HTTP/2 streams that may block on a bounded
// set of goroutines: never one goroutine per stream without bound (the
// writes that wait for a client's window have their own, which
// h2MaxStreams bounds per connection). Idle goroutines stay for
// h2PoolIdle, then end; a stream that finds every goroutine busy waits for
// one (the connection's reader with it: backpressure).
type h2Pool struct {
	max   int
	tasks chan *h2Stream
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	workers int
	wg      sync.WaitGroup
}

// h2PoolIdle is how long an idle pool goroutine waits for work.
const h2PoolIdle = 10 * time.Second

// h2PoolMax bounds the goroutines of one server's pool.
func h2PoolMax() int { return max(1024, 256*runtime.GOMAXPROCS(0)) }

func (p *h2Pool) init(n int) {
	p.max = n
	p.tasks = make(chan *h2Stream)
	p.done = make(chan struct{})
}

// run serves st's handler on the pool.
func (p *h2Pool) run(st *h2Stream) {
	select {
	case p.tasks <- st:
		return
	default:
	}
	p.mu.Lock()
	if p.workers < p.max {
		p.workers++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.work(st)
		return
	}
	p.mu.Unlock()
	select {
	case p.tasks <- st:
	case <-p.done:
		st.conn.finish(st) // stopping: the stream gets no answer
	}
}

func (p *h2Pool) work(st *h2Stream) {
	defer p.wg.Done()
	t := time.NewTimer(h2PoolIdle)
	defer t.Stop()
	for {
		st.serveOnPool()
		t.Reset(h2PoolIdle)
		select {
		case st = <-p.tasks:
		case <-t.C:
			p.mu.Lock()
			p.workers--
			p.mu.Unlock()
			return
		case <-p.done:
			p.mu.Lock()
			p.workers--
			p.mu.Unlock()
			return
		}
	}
}

// stop ends the idle goroutines and waits, until ctx ends, for the busy
// ones. A handler stuck past ctx keeps its goroutine until it returns.
func (p *h2Pool) stop(ctx context.Context) {
	p.once.Do(func() { close(p.done) })
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
