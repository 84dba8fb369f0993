package proxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// errUpstreamConnect wraps a failure to connect to an upstream: nothing
// was sent, so any request may go to another upstream.
var errUpstreamConnect = errors.New("proxy: cannot connect to upstream")

// upstreamSettings are what an upstream's client and counters were made
// with; an Update keeps an upstream only while they stay the same.
type upstreamSettings struct {
	name           string
	metrics        *UpstreamMetrics
	timeout        time.Duration
	connectTimeout time.Duration
	maxConns       int
}

func settingsOf(c Config) upstreamSettings {
	return upstreamSettings{
		name: c.Name, metrics: c.Metrics, timeout: c.Timeout,
		connectTimeout: c.ConnectTimeout, maxConns: c.MaxConnsPerUpstream,
	}
}

// upstream is one server of a pool: its pooled connections, its load and
// its health.
type upstream struct {
	// What every request touches comes first.
	hc       *fasthttp.HostClient
	inflight atomic.Int64
	// downUntil is when a passive marking ends (unix nanoseconds); 0: none.
	downUntil  atomic.Int64
	activeDown atomic.Bool // an active health check failed
	failCount  atomic.Int32
	cell       *upstreamCell

	addr     string
	key      uint64 // for ip_hash
	settings upstreamSettings
	retired  atomic.Bool

	failMu    sync.Mutex
	failStart time.Time

	dialer net.Dialer
	// conns counts this process's open connections to the upstream, the
	// pooled ones and the WebSocket tunnels', for MaxConnsPerUpstream.
	conns atomic.Int64
}

// dial connects to the upstream, unless MaxConnsPerUpstream connections
// are open already (errUpstreamBusy); a failure wraps errUpstreamConnect.
// The connection counts until it is closed.
func (u *upstream) dial() (net.Conn, error) {
	if n := u.conns.Add(1); n > int64(u.settings.maxConns) {
		u.conns.Add(-1)
		return nil, fmt.Errorf("%w %s: %d open", errUpstreamBusy, u.addr, u.settings.maxConns)
	}
	c, err := u.dialer.Dial("tcp", u.addr)
	if err != nil {
		u.conns.Add(-1)
		return nil, fmt.Errorf("%w %s: %w", errUpstreamConnect, u.addr, err)
	}
	return &countedConn{Conn: c, u: u}, nil
}

// countedConn is a connection to an upstream that leaves u.conns when it
// is closed.
type countedConn struct {
	net.Conn
	u      *upstream
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.u.conns.Add(-1)
	}
	return c.Conn.Close()
}

func newUpstream(addr string, set upstreamSettings, cell *upstreamCell) *upstream {
	u := &upstream{addr: addr, settings: set, cell: cell, key: fnv64a([]byte(addr))}
	u.dialer = net.Dialer{Timeout: set.connectTimeout, KeepAlive: 30 * time.Second}
	timeout := set.timeout
	u.hc = &fasthttp.HostClient{
		Addr: addr,
		DialTimeout: func(string, time.Duration) (net.Conn, error) {
			c, err := u.dial()
			if err != nil {
				return nil, err
			}
			return &deadlineConn{Conn: c, timeout: timeout}, nil
		},
		MaxConns:           set.maxConns,
		MaxConnWaitTimeout: timeout,
		// One more try on a fresh connection when a pooled one turns out
		// closed (the upstream dropped an idle keep-alive connection), for
		// an idempotent request, never after a timeout; a request with a
		// body stream is never retried by the client.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr: func(req *fasthttp.Request, _ int, err error) (bool, bool) {
			return false, !isTimeout(err) && isIdempotentMethod(req.Header.Method())
		},
		ReadBufferSize:           16 << 10,
		WriteBufferSize:          16 << 10,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		ConnPoolStrategy:         fasthttp.LIFO,
		StreamResponseBody:       true,
	}
	return u
}

// available reports whether the upstream is in rotation.
func (u *upstream) available() bool {
	if u.activeDown.Load() {
		return false
	}
	d := u.downUntil.Load()
	return d == 0 || time.Now().UnixNano() >= d
}

// failed counts an error; the MaxFails-th within FailTimeout takes the
// upstream out of rotation for FailTimeout. It reports whether it did.
func (u *upstream) failed(cfg *Config, single bool) bool {
	if cfg.MaxFails <= 0 || single {
		return false
	}
	now := time.Now()
	u.failMu.Lock()
	defer u.failMu.Unlock()
	if u.failCount.Load() == 0 || now.Sub(u.failStart) > cfg.FailTimeout {
		u.failStart = now
		u.failCount.Store(0)
	}
	if int(u.failCount.Add(1)) < cfg.MaxFails {
		return false
	}
	u.failCount.Store(0)
	was := u.downUntil.Load()
	u.downUntil.Store(now.Add(cfg.FailTimeout).UnixNano())
	return was == 0 || now.UnixNano() >= was
}

// succeeded ends a run of errors.
func (u *upstream) succeeded() {
	if u.failCount.Load() != 0 || u.downUntil.Load() != 0 {
		u.clearFails()
	}
}

func (u *upstream) clearFails() {
	u.failMu.Lock()
	u.failCount.Store(0)
	u.downUntil.Store(0)
	u.failMu.Unlock()
}

// begin and end bracket a request on the upstream, its response body
// included.
func (u *upstream) begin() { u.inflight.Add(1) }

func (u *upstream) end() {
	if u.inflight.Add(-1) == 0 && u.retired.Load() {
		u.hc.CloseIdleConnections()
	}
}

// retire closes the upstream's idle connections now, and each connection
// in use when its request ends.
func (u *upstream) retire() {
	u.retired.Store(true)
	if u.inflight.Load() == 0 {
		u.hc.CloseIdleConnections()
	}
}

// deadlineConn bounds each read and each write on an upstream connection
// by the proxy's timeout, so that a stalled upstream answers 504 while a
// long transfer that keeps moving is never cut off. Each write (a request
// is one write, or one per buffer of a long body) sets both deadlines to
// the whole timeout, so the wait for an answer is bounded exactly. To
// spare a deadline update on every read, a read moves the deadline only
// once less than half the timeout is left: a response body that stalls is
// cut off after between half the timeout and all of it. The client's own
// deadline calls are ignored: it may clear a deadline it believes it set
// on a pooled connection, which would lift this one.
type deadlineConn struct {
	net.Conn
	timeout   time.Duration
	readArmed int64 // unix nanoseconds of the read deadline set
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if now := time.Now().UnixNano(); c.readArmed-now < int64(c.timeout/2) {
		c.readArmed = now + int64(c.timeout)
		if err := c.Conn.SetReadDeadline(time.Unix(0, c.readArmed)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	d := time.Now().Add(c.timeout)
	c.readArmed = d.UnixNano()
	if err := c.Conn.SetDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// SetDeadline, SetReadDeadline and SetWriteDeadline do nothing: see
// deadlineConn.
func (c *deadlineConn) SetDeadline(time.Time) error { return nil }

func (c *deadlineConn) SetReadDeadline(time.Time) error { return nil }

func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }
