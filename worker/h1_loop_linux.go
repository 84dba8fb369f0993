//go:build linux

package worker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// eventLoop is a binding's event loop (h1_loop.go). Its goroutine owns
// every field but cmd and the wake-up's lock; stopAccept and stop reach it
// through cmd and an eventfd.
type eventLoop struct {
	b    *binding
	g    *connGroup
	hl   *handoffListener
	log  zerolog.Logger
	flog fasthttp.Logger // log, for the RequestCtx

	lfd  int      // a dup of the listening socket; -1 once closed
	epfd int      // the epoll instance
	ep   *os.File // epfd, waited on in Go's network poller
	rc   syscall.RawConn
	wake int // eventfd: a command is waiting

	mu     sync.Mutex // guards closed against kick
	closed bool       // the fds are closed
	cmd    atomic.Uint32
	// accepting: the loop is to accept (some host is inline); otherwise
	// the fasthttp server accepts from the listener itself.
	accepting atomic.Bool
	handed    atomic.Int64 // connections handed on so far (tests read it)
	done      chan struct{}

	conns      map[int]*loopConn
	maxConns   int64
	maxHead    int           // MaxHeaderBytes: a longer head goes to fasthttp, for its 431
	keepAlive  time.Duration // the wait for a next request (idleOrRead); 0: none
	listening  bool          // the listener is in the epoll set
	paused     bool          // accepting is paused: out of file descriptors
	sweepEvery time.Duration
	nextSweep  time.Duration

	// Scratch for one request at a time.
	ctx    fasthttp.RequestCtx
	rd     bytes.Reader
	br     *bufio.Reader
	out    outBuf
	bw     *bufio.Writer
	rbuf   []byte
	events []unix.EpollEvent
}

const (
	loopStopAccept = 1 << iota
	loopStop
	loopListen // accepting changed
)

// newEventLoop prepares a loop for ln, a TCP listener, and returns it with
// the listener its binding's fasthttp server is to accept from. ln stays
// open (its address, and the socket itself, until the loop stops
// accepting); the loop accepts on a dup of it.
func newEventLoop(ln net.Listener, cfg ServerConfig, g *connGroup, log zerolog.Logger) (*eventLoop, *handoffListener, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, nil, fmt.Errorf("worker: event loop: %T: %w", ln, errors.ErrUnsupported)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	lfd := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		lfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, nil, err
	}
	if dupErr != nil {
		return nil, nil, fmt.Errorf("worker: event loop: dup listener: %w", dupErr)
	}
	l := &eventLoop{g: g, log: log, flog: fasthttpLogger{log}, lfd: lfd, epfd: -1, wake: -1, done: make(chan struct{}),
		conns: make(map[int]*loopConn), maxConns: int64(cfg.MaxConnections),
		keepAlive: idleOrRead(cfg), events: make([]unix.EpollEvent, 128)}
	l.sweepEvery = sweepInterval(cfg.ReadTimeout, l.keepAlive)
	if err := l.open(); err != nil {
		l.closeFDs()
		return nil, nil, err
	}
	size := max(cfg.MaxHeaderBytes, 4096)
	l.rbuf = make([]byte, size)
	l.maxHead = cfg.MaxHeaderBytes
	if l.maxHead <= 0 {
		l.maxHead = size
	}
	l.br = bufio.NewReaderSize(nil, size)
	l.bw = bufio.NewWriterSize(&l.out, 4096)
	l.hl = newHandoffListener(connListener{Listener: ln, g: g}, &l.accepting, l.stopAccept)
	return l, l.hl, nil
}

// idleOrRead is the timeout between requests: IdleTimeout, or ReadTimeout
// when there is none, as fasthttp has it.
func idleOrRead(cfg ServerConfig) time.Duration {
	if cfg.IdleTimeout > 0 {
		return cfg.IdleTimeout
	}
	return cfg.ReadTimeout
}

func (l *eventLoop) open() error {
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("worker: event loop: epoll: %w", err)
	}
	if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("worker: event loop: eventfd: %w", err)
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wake)}); err != nil {
		return fmt.Errorf("worker: event loop: epoll_ctl: %w", err)
	}
	// A non-blocking epoll fd is pollable: the loop parks in Go's poller
	// until one of its own fds is ready, and the P runs other goroutines
	// meanwhile.
	if err := unix.SetNonblock(l.epfd, true); err != nil {
		return err
	}
	l.ep = os.NewFile(uintptr(l.epfd), "eventloop")
	if l.rc, err = l.ep.SyscallConn(); err != nil {
		return err
	}
	return nil
}

// start runs the loop on a goroutine; stop waits for it.
func (l *eventLoop) start(b *binding) {
	l.b = b
	l.nextSweep = l.g.now() + l.sweepEvery
	_ = l.ep.SetReadDeadline(l.g.at(l.nextSweep))
	go l.run()
}

// stopAccept closes the listening socket in the loop (handoffListener.Close).
func (l *eventLoop) stopAccept() { l.command(loopStopAccept) }

// setAccepting says whether the loop is to accept the listener's
// connections: while no host is inline, the fasthttp server accepts them
// itself, and a connection costs nothing more than without a loop.
func (l *eventLoop) setAccepting(on bool) {
	if l.accepting.Swap(on) == on {
		return
	}
	l.command(loopListen)
	if !on {
		l.hl.nudge() // an Accept waiting for the loop accepts itself now
	}
}

// stop closes every connection the loop holds and waits for it to return.
// A loop that never started just closes its fds.
func (l *eventLoop) stop() {
	if l.b == nil {
		l.closeFDs()
		return
	}
	l.command(loopStop | loopStopAccept)
	<-l.done
}

func (l *eventLoop) command(c uint32) {
	l.cmd.Or(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(l.wake, one[:])
	}
}

func (l *eventLoop) run() {
	defer close(l.done)
	defer l.closeFDs()
	defer l.closeAll()
	for {
		n := l.wait()
		if c := l.cmd.Swap(0); c != 0 && l.obey(c) {
			return
		}
		now := l.g.now()
		for i := range n {
			switch fd := int(l.events[i].Fd); fd {
			case l.lfd:
				l.accept(now)
			case l.wake:
				var b [8]byte
				_, _ = unix.Read(l.wake, b[:])
			default:
				if c := l.conns[fd]; c != nil {
					l.serve(c, now)
				}
			}
		}
		if now >= l.nextSweep {
			l.sweep(now)
		}
	}
}

// wait returns the number of ready events in l.events, parking the
// goroutine in Go's poller when there are none yet. A timeout of the
// poller (the next sweep) returns 0.
func (l *eventLoop) wait() int {
	n := 0
	_ = l.rc.Read(func(uintptr) bool {
		n = epollNow(l.epfd, l.events)
		return n > 0
	})
	return n
}

// epollNow is epoll_wait without waiting. It makes no call into the
// scheduler (the call cannot block), as the loop's reads and writes do not.
func epollNow(epfd int, events []unix.EpollEvent) int {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

func rawRead(fd int, p []byte) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// obey carries out the commands in c; true: the loop is to return.
func (l *eventLoop) obey(c uint32) bool {
	if c&loopStopAccept != 0 && l.lfd >= 0 {
		_ = unix.Close(l.lfd) // leaves the epoll set with it
		l.lfd = -1
		l.listening = false
	}
	if c&loopListen != 0 {
		l.listen(l.accepting.Load())
	}
	return c&loopStop != 0
}

// listen puts the listener in the epoll set, or takes it out.
func (l *eventLoop) listen(on bool) {
	on = on && l.lfd >= 0 && !l.paused
	if on == l.listening {
		return
	}
	if on {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.lfd)}); err != nil {
			l.log.Warn().Err(err).Msg("event loop: cannot poll the listener")
			return
		}
	} else {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lfd, nil)
	}
	l.listening = on
}

// accept takes the connections waiting on the listener, up to a batch.
func (l *eventLoop) accept(now time.Duration) {
	d := l.b.disp.Load()
	for range 64 {
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) {
				// Out of descriptors: stop polling the listener until the
				// next sweep, instead of spinning on it.
				l.log.Warn().Err(err).Msg("event loop: accept paused")
				l.listen(false)
				l.paused = true
			}
			return
		}
		n := l.b.active.Add(1)
		c := &loopConn{fd: fd, laddr: l.hl.addr, raddr: sockaddrAddr(sa)}
		if l.maxConns > 0 && n > l.maxConns {
			l.refuseConn(c)
			continue
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if d == nil || !d.inline {
			l.handOn(c, nil, nil, false, 0) // nothing for the loop to serve here
			continue
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			l.handOn(c, nil, nil, false, 0)
			continue
		}
		if l.g.read > 0 {
			c.until = now + l.g.read
		}
		l.conns[fd] = c
	}
}

// sockaddrAddr is a peer's address as net.TCPAddr.
func sockaddrAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	}
	return &net.TCPAddr{}
}

// refuseConn answers a connection over MaxConnections with 503, as
// fasthttp does, and closes it.
func (l *eventLoop) refuseConn(c *loopConn) {
	ctx := &l.ctx
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Error("The connection cannot be served because Server.Concurrency limit exceeded", fasthttp.StatusServiceUnavailable)
	ctx.Response.SetConnectionClose()
	ctx.Response.Header.SetServer(l.b.srv.Name)
	l.out = l.out[:0]
	l.bw.Reset(&l.out)
	if ctx.Response.Write(l.bw) == nil && l.bw.Flush() == nil {
		_, _ = rawWrite(c.fd, l.out)
	}
	l.close(c)
}

// serve reads what c has sent and answers the requests in it.
func (l *eventLoop) serve(c *loopConn, now time.Duration) {
	n, errno := rawRead(c.fd, l.rbuf)
	if n <= 0 {
		if errno == unix.EAGAIN || errno == unix.EINTR {
			return
		}
		l.close(c) // the client closed it, or it failed
		return
	}
	in := l.rbuf[:n]
	if len(c.head) > 0 {
		c.head = append(c.head, in...)
		in = c.head
	}
	l.out = l.out[:0]
	defer l.trimOut()
	// readBy: when the request at the front of in is to be read whole,
	// ReadTimeout after its first bytes. A head that was waiting keeps its
	// deadline, on the loop and on the goroutine it may be handed to.
	readBy := now + l.g.read
	if len(c.head) > 0 {
		readBy = c.until
	}
	for len(in) > 0 {
		used, v := l.request(c, in)
		switch v {
		case handOn:
			l.handOn(c, in, l.out, false, readBy)
			return
		case servedClose:
			l.flush(c, now, true, nil, 0)
			return
		case needMore:
			if l.flush(c, now, false, in, readBy) && l.g.read > 0 {
				c.until = readBy
			}
			return
		}
		in = in[used:]
		readBy = now + l.g.read // the next request's first bytes came in this read
		if len(l.out) >= loopOutMax && len(in) > 0 && !l.writeOut(c, in, readBy) {
			return
		}
	}
	l.flush(c, now, false, nil, 0)
}

// loopOutMax is how much of a connection's answers the loop collects
// before it writes them, while more pipelined requests wait behind them.
const loopOutMax = 64 << 10

// writeOut writes the answers collected so far while rest, more pipelined
// requests, waits. Without it one read of small requests for a large
// answer (an 8 KiB read holds some 300) made the loop build every answer
// before writing any, and a client that reads nothing left that much
// behind on a handed-on connection: answers are written, or handed on, a
// bounded amount at a time, as a goroutine's buffered writer blocks. It
// reports whether c stays on the loop.
func (l *eventLoop) writeOut(c *loopConn, rest []byte, readBy time.Duration) bool {
	w, errno := rawWrite(c.fd, l.out)
	switch {
	case w == len(l.out):
		l.out = l.out[:0]
		return true
	case errno == 0 || errno == unix.EAGAIN:
		l.handOn(c, rest, l.out[w:], false, readBy) // the socket's buffer is full: a goroutine waits for it, then serves rest
	default:
		l.close(c)
	}
	return false
}

// flush writes c's responses, and keeps head, the start of the next
// request (to be read whole by readBy), for when the rest of it comes.
// What the socket's buffer cannot take now a goroutine writes (handOn);
// closing: the last response said Connection: close. It reports whether c
// stays on the loop.
func (l *eventLoop) flush(c *loopConn, now time.Duration, closing bool, head []byte, readBy time.Duration) bool {
	w, errno := 0, syscall.Errno(0)
	if len(l.out) > 0 {
		w, errno = rawWrite(c.fd, l.out)
	}
	switch {
	case w == len(l.out) && closing:
		l.close(c)
	case w == len(l.out):
		if len(head) > 0 {
			c.head = append(c.head[:0], head...) // head may be c.head's own tail
		} else {
			c.head = nil
		}
		c.until = 0
		if l.keepAlive > 0 {
			c.until = now + l.keepAlive
		}
		return true
	case errno == 0 || errno == unix.EAGAIN:
		l.handOn(c, head, l.out[w:], closing, readBy) // the socket's buffer is full: a goroutine waits for it
	default:
		l.close(c)
	}
	return false
}

// trimOut lets go of a large response's buffers, so that one big answer
// does not stay in memory for the loop's life.
func (l *eventLoop) trimOut() {
	const keep = 64 << 10
	if cap(l.out) > keep {
		l.out = nil
	}
	l.ctx.Response.ReleaseBody(keep)
}

// request answers the request at the head of in, if the loop can (see
// loopCanServe and HostConfig.Inline), appending the response to l.out; it
// returns how many bytes of in the request took.
func (l *eventLoop) request(c *loopConn, in []byte) (int, verdict) {
	end := headerEnd(in)
	switch {
	case end < 0 && len(in) < l.maxHead && !requestLineDone(in):
		return 0, needMore
	case end < 0 || end > l.maxHead:
		return 0, handOn // fasthttp answers its 431, or judges the request line
	}
	ctx := &l.ctx
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Hijack(nil)
	l.rd.Reset(in[:end])
	l.br.Reset(&l.rd)
	if err := ctx.Request.Header.Read(l.br); err != nil || l.br.Buffered()+l.rd.Len() != 0 || !loopCanServe(&ctx.Request) {
		return 0, handOn
	}
	ctx.Init2(c, l.flog, false)
	b := l.b
	if !b.admitRequest(ctx) {
		return end, l.respond(c, ctx) // its 400
	}
	d := b.disp.Load()
	if d == nil {
		return 0, handOn
	}
	hs := d.lookup(ctx.Host())
	if !hs.inline {
		// A host that is not inline may still answer some requests
		// without blocking (a cache hit: HostConfig.InlineAnswer).
		if hs.answer == nil || !hs.serveAnswer(ctx) {
			return 0, handOn // before anything is counted: the goroutine serves it whole
		}
		return end, l.respond(c, ctx)
	}
	hs.serve(ctx)
	return end, l.respond(c, ctx)
}

// respond appends ctx's response to l.out, as fasthttp's server writes it.
func (l *eventLoop) respond(c *loopConn, ctx *fasthttp.RequestCtx) verdict {
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
	}
	if len(ctx.Response.Header.Server()) == 0 {
		ctx.Response.Header.SetServer(l.b.srv.Name)
	}
	if ctx.Hijacked() {
		// Inline handlers promise not to; the loop has no goroutine to
		// give the connection to, so it ends it after the response.
		l.log.Warn().Bytes("host", ctx.Host()).Msg("event loop: an inline host's handler hijacked its connection; closed instead")
	}
	closing := ctx.Request.Header.ConnectionClose() || ctx.Response.ConnectionClose() || c.closeAsked || ctx.Hijacked()
	if closing {
		ctx.Response.SetConnectionClose()
	}
	l.bw.Reset(&l.out)
	if ctx.Response.Write(l.bw) != nil || l.bw.Flush() != nil {
		return servedClose
	}
	if closing {
		return servedClose
	}
	return served
}

// handOn gives c to the binding's fasthttp server, with in, what the loop
// read of it and did not serve, and out, what it could not write yet;
// closing: the connection ends once out is written. readBy, on the loop's
// clock, is when the request at the front of in is to have been read
// whole; 0: ReadTimeout from now, as for a new connection.
func (l *eventLoop) handOn(c *loopConn, in, out []byte, closing bool, readBy time.Duration) {
	if l.conns[c.fd] == c {
		delete(l.conns, c.fd)
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
	l.b.active.Add(-1) // the fasthttp server counts it again
	l.handed.Add(1)
	f := os.NewFile(uintptr(c.fd), "tcp")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		l.log.Warn().Err(err).Msg("event loop: hand on a connection")
		return
	}
	hc := &handedConn{Conn: nc, write: l.g.write, closeAfterOut: closing}
	if len(in) > 0 {
		hc.in = append([]byte(nil), in...)
	}
	if len(out) > 0 {
		hc.out = append([]byte(nil), out...)
	}
	sc := &serverConn{lazyDeadlineConn: lazyDeadlineConn{Conn: hc}}
	sc.startPhasesUntil(l.g, readBy)
	l.hl.hand(sc)
}

func (l *eventLoop) close(c *loopConn) {
	if l.conns[c.fd] == c {
		delete(l.conns, c.fd)
	}
	_ = unix.Close(c.fd) // leaves the epoll set with it
	l.b.active.Add(-1)
}

// sweep closes the connections past their timeout, and polls the listener
// again if accepting was paused.
func (l *eventLoop) sweep(now time.Duration) {
	for _, c := range l.conns {
		if c.until > 0 && now >= c.until {
			l.close(c)
		}
	}
	if l.paused {
		l.paused = false
		l.listen(l.accepting.Load())
	}
	l.nextSweep = now + l.sweepEvery
	_ = l.ep.SetReadDeadline(l.g.at(l.nextSweep))
}

// closeAll closes the connections the loop holds: the binding is shutting
// down, and between two events none of them is in the middle of a request.
func (l *eventLoop) closeAll() {
	for _, c := range l.conns {
		l.close(c)
	}
}

func (l *eventLoop) closeFDs() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.lfd >= 0 {
		_ = unix.Close(l.lfd)
		l.lfd = -1
	}
	if l.ep != nil {
		_ = l.ep.Close()
	} else if l.epfd >= 0 {
		_ = unix.Close(l.epfd)
	}
	if l.wake >= 0 {
		_ = unix.Close(l.wake)
	}
}
