package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rockstar-dev/rockstar/netutil"
)

// errWorkerGone: the worker's control channel closed before it answered.
var errWorkerGone = errors.New("supervisor: worker gone")

// proc is one worker process and its control channel. Its reader goroutine
// and its waiter are started by start and end on their own when the process
// exits; exited is closed after both.
type proc struct {
	slot, gen int
	pid       int
	cmd       *exec.Cmd
	conn      net.Conn
	started   time.Time

	nextID atomic.Uint64
	sendMu sync.Mutex

	mu       sync.Mutex
	state    string
	readyAt  time.Time
	waiting  map[uint64]chan *netutil.Message
	health   *wire.Health // last answer
	healthAt time.Time
	missed   int
	inflight uint64 // id of an unanswered health probe
	exitErr  error
	retiring bool // the master asked it to go: its exit is no crash

	ready  chan struct{} // closed on the "ready" message
	exited chan struct{} // closed when the process and its reader are done
	// requests answers the worker's own requests (wire.MsgACMEObtain,
	// the only kind), from the reader; it must not block.
	requests func(*proc, *netutil.Message)
}

// start runs cmd with its control channel and begins reading from it.
func startProc(cmd *exec.Cmd, conn net.Conn, slot, gen int, requests func(*proc, *netutil.Message)) (*proc, error) {
	p := &proc{
		slot: slot, gen: gen, cmd: cmd, conn: conn, requests: requests,
		state:   StateStarting,
		waiting: make(map[uint64]chan *netutil.Message),
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("supervisor: start worker %d: %w", slot, err)
	}
	p.pid = cmd.Process.Pid
	p.started = time.Now()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		p.readLoop()
	}()
	go func() {
		err := cmd.Wait()
		// The child's end is closed now; closing ours ends the reader.
		conn.Close()
		<-readerDone
		p.mu.Lock()
		p.state = StateExited
		p.exitErr = err
		for id, ch := range p.waiting {
			close(ch)
			delete(p.waiting, id)
		}
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) readLoop() {
	r := bufio.NewReader(p.conn)
	for {
		m, err := netutil.ReadMessage(r)
		if err != nil {
			return
		}
		if m.Type == wire.MsgACMEObtain { // the worker's request: its IDs are not ours
			if p.requests != nil {
				p.requests(p, m)
			}
			continue
		}
		if m.ID != 0 {
			p.mu.Lock()
			ch, ok := p.waiting[m.ID]
			delete(p.waiting, m.ID)
			p.mu.Unlock()
			if ok {
				ch <- m
				continue
			}
		}
		switch m.Type {
		case wire.MsgReady:
			p.mu.Lock()
			if p.state == StateStarting {
				p.state = StateReady
				p.readyAt = time.Now()
				close(p.ready)
			}
			p.mu.Unlock()
		case wire.MsgHealth: // a late answer to a probe whose wait ended
			p.recordHealth(m)
		}
	}
}

func (p *proc) recordHealth(m *netutil.Message) {
	var h wire.Health
	if m.Err != "" || json.Unmarshal(m.Body, &h) != nil {
		return
	}
	p.mu.Lock()
	p.health, p.healthAt, p.missed, p.inflight = &h, time.Now(), 0, 0
	p.mu.Unlock()
}

// send writes one message; a worker that does not read within a few
// seconds is treated as gone.
func (p *proc) send(m *netutil.Message) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	return netutil.WriteMessage(p.conn, m)
}

// request sends a message and waits for the reply until ctx ends.
func (p *proc) request(ctx context.Context, typ string, body any) (*netutil.Message, error) {
	m := &netutil.Message{ID: p.nextID.Add(1), Type: typ}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		m.Body = b
	}
	ch := make(chan *netutil.Message, 1)
	p.mu.Lock()
	if p.state == StateExited {
		p.mu.Unlock()
		return nil, errWorkerGone
	}
	p.waiting[m.ID] = ch
	p.mu.Unlock()
	if err := p.send(m); err != nil {
		p.forget(m.ID)
		return nil, fmt.Errorf("supervisor: %s to worker %d (pid %d): %w", typ, p.slot, p.pid, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errWorkerGone
		}
		if r.Err != "" {
			return r, fmt.Errorf("supervisor: worker %d (pid %d): %s: %w", p.slot, p.pid, r.Err, errWorkerFailed)
		}
		return r, nil
	case <-ctx.Done():
		p.forget(m.ID)
		return nil, fmt.Errorf("supervisor: %s to worker %d (pid %d): %w", typ, p.slot, p.pid, context.Cause(ctx))
	}
}

// errWorkerFailed: a worker answered a request with an error.
var errWorkerFailed = errors.New("supervisor: worker refused")

func (p *proc) forget(id uint64) {
	p.mu.Lock()
	delete(p.waiting, id)
	p.mu.Unlock()
}

func (p *proc) getState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *proc) setState(s string) {
	p.mu.Lock()
	if p.state != StateExited {
		p.state = s
	}
	p.mu.Unlock()
}

// kill sends SIGKILL; the waiter notices the exit.
func (p *proc) kill() { _ = p.cmd.Process.Signal(os.Kill) }

// signal sends sig to the worker.
func (p *proc) signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

func (p *proc) isRetiring() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retiring
}

func (p *proc) retire() {
	p.mu.Lock()
	p.retiring = true
	p.mu.Unlock()
}
