//go:build linux

package netutil

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() { childModes["serve"] = childServe }

// childServe is a worker in miniature: it takes its listeners and control
// socket from the inherited fds, says ready, serves one HTTP request and
// echoes one UDP datagram, then answers "stop" and exits.
func childServe() error {
	specs, err := DecodeFDs(os.Getenv(childFDsEnv))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(childLimit)
	var ln net.Listener
	var pc net.PacketConn
	var ctl *Conn
	for _, s := range specs {
		switch s.Kind {
		case "tcp":
			if ln, err = FileListener(uintptr(s.FD), s.String()); err != nil {
				return err
			}
			if got := ln.Addr().String(); got != s.Addr {
				return fmt.Errorf("fd %d is a listener on %s, spec says %s", s.FD, got, s.Addr)
			}
		case "udp":
			if pc, err = FilePacketConn(uintptr(s.FD), s.String()); err != nil {
				return err
			}
			if got := pc.LocalAddr().String(); got != s.Addr {
				return fmt.Errorf("fd %d is a packet conn on %s, spec says %s", s.FD, got, s.Addr)
			}
		case "ctl":
			c, err := FileConn(os.NewFile(uintptr(s.FD), s.String()))
			if err != nil {
				return err
			}
			ctl = NewConn(c)
		}
	}
	if ln == nil || pc == nil || ctl == nil {
		return fmt.Errorf("missing fds in %q", os.Getenv(childFDsEnv))
	}
	defer ln.Close()
	defer pc.Close()
	defer ctl.Close()
	ln.(*net.TCPListener).SetDeadline(deadline)
	pc.SetDeadline(deadline)
	ctl.SetReadDeadline(deadline)
	ctl.SetWriteDeadline(deadline)

	body, _ := json.Marshal(map[string]int{"pid": os.Getpid()})
	if err := ctl.Send(&Message{Type: "ready", Body: body}); err != nil {
		return err
	}

	c, err := ln.Accept()
	if err != nil {
		return err
	}
	c.SetDeadline(deadline)
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return err
	}
	reply := fmt.Sprintf("served by pid %d", os.Getpid())
	if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(reply), reply); err != nil {
		return err
	}
	c.Close()

	buf := make([]byte, 1500)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return err
	}
	if _, err := pc.WriteTo(fmt.Appendf(nil, "%s from %d", buf[:n], os.Getpid()), from); err != nil {
		return err
	}

	m, err := ctl.Recv()
	if err != nil {
		return err
	}
	if m.Type != "stop" {
		return fmt.Errorf("got %q, want stop", m.Type)
	}
	return ctl.Send(&Message{ID: m.ID, Type: "stop"})
}

func TestEncodeDecodeFDs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []FDSpec
		want  string
	}{
		{"none", nil, ""},
		{"ipv4", []FDSpec{{Kind: "tcp", Addr: "127.0.0.1:8080", Slot: 0, FD: 3}}, "tcp:0:3:127.0.0.1:8080"},
		{"ipv6 and ctl", []FDSpec{
			{Kind: "tcp", Addr: "[::1]:8080", Slot: 2, FD: 3},
			{Kind: "udp", Addr: "[::]:8443", Slot: 2, FD: 4},
			{Kind: "ctl", Slot: 2, FD: 5},
		}, "tcp:2:3:[::1]:8080,udp:2:4:[::]:8443,ctl:2:5:"},
		{"zone", []FDSpec{{Kind: "tcp", Addr: "[fe80::1%eth0]:443", Slot: 1, FD: 7}}, "tcp:1:7:[fe80::1%25eth0]:443"},
		{"odd unix path", []FDSpec{{Kind: "ctl", Addr: "/run/a,b c/ctl.sock", Slot: 0, FD: 3}}, "ctl:0:3:/run/a%2Cb%20c/ctl.sock"},
		{"no host", []FDSpec{{Kind: "tcp", Addr: ":8080", Slot: 11, FD: 30}}, "tcp:11:30::8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := EncodeFDs(tc.specs)
			if got != tc.want {
				t.Fatalf("EncodeFDs = %q, want %q", got, tc.want)
			}
			back, err := DecodeFDs(got)
			if err != nil {
				t.Fatalf("DecodeFDs(%q): %v", got, err)
			}
			if !reflect.DeepEqual(back, tc.specs) {
				t.Fatalf("DecodeFDs(%q) = %+v, want %+v", got, back, tc.specs)
			}
		})
	}
}

func TestDecodeFDsErrors(t *testing.T) {
	for _, s := range []string{
		",",
		"tcp:0:3:a,",
		"tcp:0:3",
		"tcp:0",
		"sctp:0:3:a",
		"TCP:0:3:a",
		"tcp::3:a",
		"tcp:-1:3:a",
		"tcp:+1:3:a",
		"tcp:0:x:a",
		"tcp:0: 3:a",
		"tcp:0:99999999999:a",
		"tcp:0:3:%zz",
		"tcp:0:3:%2",
		"tcp:0:3:a,udp:0:3:b",
	} {
		if specs, err := DecodeFDs(s); !errors.Is(err, ErrBadFDSpec) {
			t.Errorf("DecodeFDs(%q) = %+v, %v; want ErrBadFDSpec", s, specs, err)
		}
	}
}

func FuzzDecodeFDs(f *testing.F) {
	f.Add("tcp:0:3:127.0.0.1:8080")
	f.Add("tcp:2:3:[::1]:8080,udp:2:4:[::]:8443,ctl:2:5:")
	f.Add("tcp:1:7:[fe80::1%25eth0]:443")
	f.Add("ctl:0:3:/run/a%2Cb%20c/ctl.sock")
	f.Fuzz(func(t *testing.T, s string) {
		specs, err := DecodeFDs(s)
		if err != nil {
			if !errors.Is(err, ErrBadFDSpec) {
				t.Fatalf("DecodeFDs(%q): error %v does not wrap ErrBadFDSpec", s, err)
			}
			return
		}
		enc := EncodeFDs(specs)
		back, err := DecodeFDs(enc)
		if err != nil {
			t.Fatalf("DecodeFDs(EncodeFDs(%+v)) = %v (encoded %q)", specs, err, enc)
		}
		if !reflect.DeepEqual(back, specs) {
			t.Fatalf("round trip of %q: %+v, then %+v", s, specs, back)
		}
		if again := EncodeFDs(back); again != enc {
			t.Fatalf("encoding is not stable: %q then %q", enc, again)
		}
	})
}

// rawDup returns a duplicate descriptor of sc's socket that no *os.File owns,
// for the functions that take ownership of a bare fd.
func rawDup(t *testing.T, sc syscall.Conn) int {
	t.Helper()
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		t.Fatal(err)
	}
	if derr != nil {
		t.Fatal(derr)
	}
	return nfd
}

func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func TestListenerFileAndFileListenerInOneProcess(t *testing.T) {
	ln, err := ListenReusePort("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ListenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// What os.StartProcess does with ExtraFiles: it must not make the
	// shared socket blocking, or whoever accepts on it would hang.
	f.Fd()
	fdfl, fl := fdFlags(t, f)
	if fdfl&unix.FD_CLOEXEC == 0 {
		t.Error("the file is not close-on-exec: it would leak into every child, not just the one it is passed to")
	}
	if fl&unix.O_NONBLOCK == 0 {
		t.Error("Fd made the passed socket blocking")
	}
	if _, fl := fdFlags(t, ln.(*net.TCPListener)); fl&unix.O_NONBLOCK == 0 {
		t.Error("the original listener became blocking")
	}

	fd := rawDup(t, ln.(*net.TCPListener))
	l2, err := FileListener(uintptr(fd), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if isOpen(fd) {
		t.Errorf("FileListener left fd %d open", fd)
	}
	if l2.Addr().String() != ln.Addr().String() {
		t.Fatalf("addr %s, want %s", l2.Addr(), ln.Addr())
	}
	// A connection to the address is accepted on the new listener.
	go func() {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		if err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	l2.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l2.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestPacketConnFileAndFilePacketConn(t *testing.T) {
	pc, err := ListenPacketReusePort("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, err := PacketConnFile(pc)
	if err != nil {
		t.Fatal(err)
	}
	f.Fd()
	if _, fl := fdFlags(t, f); fl&unix.O_NONBLOCK == 0 {
		t.Error("Fd made the passed socket blocking")
	}
	f.Close()

	fd := rawDup(t, pc.(*net.UDPConn))
	pc2, err := FilePacketConn(uintptr(fd), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pc2.Close()
	if isOpen(fd) {
		t.Errorf("FilePacketConn left fd %d open", fd)
	}
	if pc2.LocalAddr().String() != pc.LocalAddr().String() {
		t.Fatalf("addr %s, want %s", pc2.LocalAddr(), pc.LocalAddr())
	}
}

type noFDListener struct{ net.Listener }
type noFDPacketConn struct{ net.PacketConn }

func TestListenerFileWithoutFD(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := ListenerFile(noFDListener{ln}); !errors.Is(err, ErrNoFD) {
		t.Fatalf("err = %v, want ErrNoFD", err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := PacketConnFile(noFDPacketConn{pc}); !errors.Is(err, ErrNoFD) {
		t.Fatalf("err = %v, want ErrNoFD", err)
	}
}

// A misnumbered descriptor is refused, and closed all the same.
func TestFileListenerRefusesWhatIsNotAListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	file, err := os.CreateTemp(t.TempDir(), "notasocket")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	cases := []struct {
		name string
		fd   func() int
	}{
		{"connected tcp socket", func() int { return rawDup(t, dialed.(*net.TCPConn)) }},
		{"udp socket", func() int { return rawDup(t, pc.(*net.UDPConn)) }},
		{"regular file", func() int {
			fd, err := unix.Dup(int(file.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			return fd
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd := tc.fd()
			l, err := FileListener(uintptr(fd), tc.name)
			if !errors.Is(err, ErrBadFD) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("err = %v, want ErrBadFD", err)
			}
			if isOpen(fd) {
				unix.Close(fd)
				t.Fatalf("fd %d left open after a failed FileListener", fd)
			}
		})
	}
	t.Run("tcp listener as a packet conn", func(t *testing.T) {
		fd := rawDup(t, ln.(*net.TCPListener))
		if c, err := FilePacketConn(uintptr(fd), "listener"); !errors.Is(err, ErrBadFD) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("err = %v, want ErrBadFD", err)
		}
		if isOpen(fd) {
			unix.Close(fd)
			t.Fatalf("fd %d left open", fd)
		}
	})
	t.Run("negative fd", func(t *testing.T) {
		if _, err := FileListener(^uintptr(0), "neg"); !errors.Is(err, ErrBadFD) {
			t.Fatalf("err = %v, want ErrBadFD", err)
		}
		if _, err := FilePacketConn(^uintptr(0), "neg"); !errors.Is(err, ErrBadFD) {
			t.Fatalf("err = %v, want ErrBadFD", err)
		}
	})
}

// TestListenersPassToAChild runs the master's side of a worker slot: a
// reuseport TCP listener, a UDP socket and a control socketpair, passed to a
// child (this test binary) by ExtraFiles and described in the environment.
// The child serves one HTTP request and one datagram, then stops on request.
// A second child then takes over the same sockets, and answers a connection
// that was queued while no child was running: the master holding the
// sockets is what keeps such connections from being reset.
func TestListenersPassToAChild(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "tcp6" {
				host = "[::1]"
			}
			ln, err := ListenReusePort(network, host+":0")
			if err != nil {
				if network == "tcp6" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			defer ln.Close()
			udp := "udp4"
			if network == "tcp6" {
				udp = "udp6"
			}
			pc, err := ListenPacketReusePort(udp, host+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()

			// Generation 1: an HTTP client request.
			pid1 := runServeChild(t, ln, pc, func() string {
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				resp, err := client.Get("http://" + ln.Addr().String() + "/")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				return string(b)
			})

			// No child now. A connection still completes its handshake into
			// the socket's queue...
			queued, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
			if err != nil {
				t.Fatalf("connect with no child running: %v", err)
			}
			defer queued.Close()
			queued.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(queued, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			// ...and generation 2 answers it.
			pid2 := runServeChild(t, ln, pc, func() string {
				resp, err := http.ReadResponse(bufio.NewReader(queued), nil)
				if err != nil {
					t.Fatalf("queued connection: %v", err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			})
			if pid1 == pid2 {
				t.Fatalf("both generations have pid %d", pid1)
			}
		})
	}
}

// runServeChild starts a "serve" child on ln, pc and a new socketpair, calls
// request once the child is ready and checks the child served it, checks the
// UDP echo, stops the child and waits for it. It returns the child's pid.
func runServeChild(t *testing.T, ln net.Listener, pc net.PacketConn, request func() string) int {
	t.Helper()
	lnf, err := ListenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	pcf, err := PacketConnFile(pc)
	if err != nil {
		t.Fatal(err)
	}
	parentEnd, childEnd, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	specs := []FDSpec{
		{Kind: "tcp", Addr: ln.Addr().String(), Slot: 0, FD: 3},
		{Kind: "udp", Addr: pc.LocalAddr().String(), Slot: 0, FD: 4},
		{Kind: "ctl", Slot: 0, FD: 5},
	}
	ch := startChild(t, "serve", []string{childFDsEnv + "=" + EncodeFDs(specs)}, lnf, pcf, childEnd)
	// The child has its copies now; the parent keeps only ln, pc and its end.
	lnf.Close()
	pcf.Close()
	childEnd.Close()
	conn, err := FileConn(parentEnd)
	if err != nil {
		t.Fatal(err)
	}
	ctl := NewConn(conn)
	defer ctl.Close()
	ctl.SetReadDeadline(time.Now().Add(20 * time.Second))
	ctl.SetWriteDeadline(time.Now().Add(20 * time.Second))

	m, err := ctl.Recv()
	if err != nil {
		t.Fatalf("waiting for ready: %v", err)
	}
	var ready struct{ Pid int }
	if err := json.Unmarshal(m.Body, &ready); err != nil || m.Type != "ready" || ready.Pid != ch.pid() {
		t.Fatalf("first message %+v (body %s), want ready from pid %d", m, m.Body, ch.pid())
	}
	// Passing the sockets left the parent's own non-blocking.
	if _, fl := fdFlags(t, ln.(syscall.Conn)); fl&unix.O_NONBLOCK == 0 {
		t.Error("passing the listener made the parent's socket blocking")
	}

	if got, want := request(), "served by pid "+strconv.Itoa(ch.pid()); got != want {
		t.Fatalf("HTTP response %q, want %q", got, want)
	}

	u, err := net.Dial(pc.LocalAddr().Network(), pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := u.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := u.Read(buf)
	if err != nil {
		t.Fatalf("UDP echo: %v", err)
	}
	if got, want := string(buf[:n]), "ping from "+strconv.Itoa(ch.pid()); got != want {
		t.Fatalf("UDP echo %q, want %q", got, want)
	}

	if err := ctl.Send(&Message{ID: 42, Type: "stop"}); err != nil {
		t.Fatal(err)
	}
	m, err = ctl.Recv()
	if err != nil {
		t.Fatalf("waiting for the stop reply: %v", err)
	}
	if m.ID != 42 || m.Type != "stop" || m.Err != "" {
		t.Fatalf("stop reply %+v", m)
	}
	if err := ch.wait(20 * time.Second); err != nil {
		t.Fatalf("child: %v", err)
	}
	// The child is gone, and so is the only other end of the socketpair.
	if _, err := ctl.Recv(); err != io.EOF {
		t.Fatalf("Recv after the child exited: %v, want io.EOF", err)
	}
	return ch.pid()
}
