package worker

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// listenAsync runs s.Listen(addr) in a goroutine, waits until s runs, and
// returns a function that waits for Listen to return and gives its error.
func listenAsync(t *testing.T, s Server, addr string) (wait func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Listen(addr) }()
	waitFor(t, "the server to run", 5*time.Second, func() bool {
		select {
		case err := <-errc:
			t.Fatalf("Listen(%s) returned early: %v", addr, err)
		default:
		}
		return s.IsRunning()
	})
	var got error
	var done bool
	t.Cleanup(func() {
		if !done {
			_ = s.Close()
			<-errc
		}
	})
	return func() error {
		if done {
			return got
		}
		select {
		case got = <-errc:
		case <-time.After(10 * time.Second):
			t.Fatal("Listen did not return after the server stopped")
		}
		done = true
		return got
	}
}

func refuses(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestListenBlocksAndReturnsNilOnStop(t *testing.T) {
	stops := map[string]func(sm ServerManager, s Server) error{
		"Shutdown":         func(_ ServerManager, s Server) error { return s.Shutdown(context.Background()) },
		"Close":            func(_ ServerManager, s Server) error { return s.Close() },
		"StopAll":          func(sm ServerManager, _ Server) error { return sm.StopAll() },
		"GracefulShutdown": func(sm ServerManager, _ Server) error { return sm.GracefulShutdown(5 * time.Second) },
		"RemoveServer":     func(sm ServerManager, s Server) error { return sm.RemoveServer(s.Addr()) },
	}
	for name, stop := range stops {
		t.Run(name, func(t *testing.T) {
			sm := quietManager(t)
			s := sm.NewServer(ServerConfig{})
			r := NewRouter()
			r.GET("/", text("up"))
			s.SetRouter(r)
			wait := listenAsync(t, s, "127.0.0.1:0")
			addr := s.Addr()
			if code, body := get(t, addr, "a", "/"); code != 200 || body != "up" {
				t.Fatalf("GET = %d %q", code, body)
			}
			if err := stop(sm, s); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := wait(); err != nil {
				t.Fatalf("Listen after %s = %v, want nil", name, err)
			}
			if s.IsRunning() || !refuses(addr) {
				t.Fatalf("after %s: running %v, still accepting on %s", name, s.IsRunning(), addr)
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	sm := quietManager(t)
	plain, err := net.Listen("tcp", "127.0.0.1:0") // no SO_REUSEPORT: the port is taken
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	s := sm.NewServer(ServerConfig{})
	if err := s.Listen(plain.Addr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen on a taken port = %v, want EADDRINUSE", err)
	}
	if err := s.Listen("256.1.1.1:80"); err == nil {
		t.Error("Listen on a bad address succeeded")
	}
	if err := s.ListenTLS("127.0.0.1:0", "", ""); err == nil {
		t.Error("ListenTLS without a certificate succeeded")
	}
	if s.IsRunning() {
		t.Fatal("running after failed Listens")
	}
	// Once running, a second Listen is refused; after a stop, it can listen again.
	wait := listenAsync(t, s, "127.0.0.1:0")
	if err := s.Listen("127.0.0.1:0"); !errors.Is(err, ErrServerRunning) {
		t.Errorf("second Listen = %v, want ErrServerRunning", err)
	}
	_ = s.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wait = listenAsync(t, s, "127.0.0.1:0")
	_ = s.Close()
	if err := wait(); err != nil {
		t.Fatalf("restarted Listen = %v", err)
	}
}

func TestServerRegistry(t *testing.T) {
	sm := quietManager(t)
	a := sm.NewServer(ServerConfig{Addr: "127.0.0.1:7001"})
	b := sm.NewServer(ServerConfig{})
	steps := []struct {
		name  string
		call  func() error
		want  error
		count int
	}{
		{"AddServer of a NewServer", func() error { return sm.AddServer("127.0.0.1:7002", b) }, nil, 2},
		{"AddServer again, same addr", func() error { return sm.AddServer("127.0.0.1:7002", b) }, nil, 2},
		{"AddServer on a taken addr", func() error { return sm.AddServer("127.0.0.1:7001", b) }, ErrServerExists, 2},
		{"AddServer without addr", func() error { return sm.AddServer("", b) }, ErrNoAddress, 2},
		{"AddServer of nil", func() error { return sm.AddServer("127.0.0.1:7003", nil) }, ErrForeignServer, 2},
		{"AddServer of another manager's", func() error {
			return sm.AddServer("127.0.0.1:7003", NewServerManager().NewServer(ServerConfig{}))
		}, ErrForeignServer, 2},
		{"RemoveServer unknown", func() error { return sm.RemoveServer("127.0.0.1:7999") }, ErrServerNotFound, 2},
		{"RemoveServer", func() error { return sm.RemoveServer("127.0.0.1:7001") }, nil, 1},
		{"RemoveServer again", func() error { return sm.RemoveServer("127.0.0.1:7001") }, ErrServerNotFound, 1},
	}
	for _, st := range steps {
		if err := st.call(); !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", st.name, err, st.want)
		}
		if got := sm.GetServerCount(); got != st.count || len(sm.GetServers()) != st.count {
			t.Errorf("%s: GetServerCount = %d, GetServers has %d, want %d", st.name, got, len(sm.GetServers()), st.count)
		}
	}
	if got, ok := sm.GetServer("127.0.0.1:7002"); !ok || got != b {
		t.Errorf("GetServer(7002) = %v %v, want b", got, ok)
	}
	if _, ok := sm.GetServer("127.0.0.1:7001"); ok {
		t.Error("GetServer finds a removed server")
	}
	if got := sm.GetServers(); len(got) != 1 || got[0] != b || a.Addr() != "127.0.0.1:7001" {
		t.Errorf("GetServers = %v", got)
	}
	if p := b.Protocol(); p != "HTTP/1.1" {
		t.Errorf("Protocol = %q", p)
	}
}

func TestStartAllAndStopAll(t *testing.T) {
	sm := quietManager(t)
	var servers []Server
	for range 3 {
		servers = append(servers, sm.NewServer(ServerConfig{Addr: "127.0.0.1:0"}))
	}
	idle := sm.NewServer(ServerConfig{}) // no address: StartAll leaves it alone
	if err := sm.StartAll(); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	for _, s := range servers {
		if !s.IsRunning() || refuses(s.Addr()) {
			t.Fatalf("server %s not accepting after StartAll", s.Addr())
		}
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	if idle.IsRunning() {
		t.Error("StartAll started a server without an address")
	}
	if err := sm.StopAll(); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		if s.IsRunning() || !refuses(s.Addr()) {
			t.Errorf("server %s still up after StopAll", s.Addr())
		}
		_ = held[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := held[i].Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("open connection to %s after StopAll: %v, want closed", s.Addr(), err)
		}
	}
}

func TestStartAllStopsStartedOnFailure(t *testing.T) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	sm := quietManager(t)
	first := sm.NewServer(ServerConfig{Addr: "127.0.0.1:0"})
	second := sm.NewServer(ServerConfig{Addr: "127.0.0.1:0"})
	bad := sm.NewServer(ServerConfig{Addr: plain.Addr().String()})
	err = sm.StartAll()
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("StartAll = %v, want an error wrapping EADDRINUSE", err)
	}
	for _, s := range []Server{first, second, bad} {
		if s.IsRunning() {
			t.Errorf("server %s still running after StartAll failed", s.Addr())
		}
	}
	for _, s := range []Server{first, second} {
		if !refuses(s.Addr()) {
			t.Errorf("server %s still accepts after StartAll failed", s.Addr())
		}
	}
}

// slowServer starts a server whose /slow handler signals entered and waits
// for release.
func slowServer(t *testing.T, sm ServerManager) (addr string, entered, release chan struct{}) {
	entered, release = make(chan struct{}, 1), make(chan struct{})
	r := NewRouter()
	r.GET("/", text("ok"))
	r.GET("/slow", func(ctx *fasthttp.RequestCtx) {
		entered <- struct{}{}
		<-release
		ctx.SetBodyString("finished")
	})
	_, addr = start(t, sm, ServerConfig{}, r)
	return addr, entered, release
}

// idleConn opens an idle keep-alive connection to addr: one request
// answered, the next not sent. The test's end closes it.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if n, err := idle.Read(make([]byte, 4096)); err != nil || n == 0 {
		t.Fatalf("keep-alive request: %v", err)
	}
	return idle
}

type result struct {
	code int
	body string
	err  error
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	sm := quietManager(t)
	addr, entered, release := slowServer(t, sm)
	idle := idleConn(t, addr)

	got := make(chan result, 1)
	go func() {
		code, body, err := fetch("GET", addr, "a", "/slow")
		got <- result{code, body, err}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- sm.GracefulShutdown(10 * time.Second) }()
	waitFor(t, "the listener to close", 5*time.Second, func() bool { return refuses(addr) })
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("idle connection during shutdown: %v, want closed", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("GracefulShutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.code != 200 || r.body != "finished" {
		t.Errorf("in-flight request = %d %q %v, want 200 finished", r.code, r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Errorf("GracefulShutdown = %v, want nil", err)
	}
}

func TestGracefulShutdownDeadline(t *testing.T) {
	sm := quietManager(t)
	addr, entered, release := slowServer(t, sm)
	defer close(release)
	got := make(chan result, 1)
	go func() {
		code, body, err := fetch("GET", addr, "a", "/slow")
		got <- result{code, body, err}
	}()
	<-entered
	begin := time.Now()
	err := sm.GracefulShutdown(200 * time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrShutdownTimeout) {
		t.Errorf("GracefulShutdown = %v, want context.DeadlineExceeded and ErrShutdownTimeout", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("GracefulShutdown took %s with a 200ms timeout", d)
	}
	// The request left over was cut off, not answered.
	select {
	case r := <-got:
		if r.err == nil {
			t.Errorf("the request in flight got %d %q, want its connection closed", r.code, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Error("the connection in flight was not closed")
	}
}

// Connections that arrive while StopAll runs are closed too, not left to
// a server that no longer exists: dial and stop at once, many times.
func TestStopAllClosesConnectionsArrivingMeanwhile(t *testing.T) {
	for range 20 {
		sm := quietManager(t)
		_, addr := start(t, sm, ServerConfig{}, NewRouter())
		var conns []net.Conn
		for range 5 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		if err := sm.StopAll(); err != nil {
			t.Fatal(err)
		}
		for i, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("connection %d after StopAll: %v, want closed", i, err)
			}
		}
	}
}
