//go:build linux

package supervisor

import (
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/rockstar-dev/rockstar/netutil"
)

func freeTestAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Another server that binds the address between the pool's check and its
// own bind is seen by the check after binding: the pool gives the address
// up instead of sharing it.
func TestEnsureSeesARacingServer(t *testing.T) {
	p := newSocketPool()
	defer p.closeAll()
	addr := freeTestAddr(t)
	var other net.Listener
	defer func() {
		if other != nil {
			other.Close()
		}
	}()
	p.listen = func(target string) (*os.File, error) {
		if other == nil { // the other server binds now
			var err error
			if other, err = netutil.ListenReusePort("tcp", target); err != nil {
				return nil, err
			}
		}
		return listenFile(target)
	}
	err := p.ensure(addr, 2)
	var inUse *netutil.AddrInUseError
	if !errors.Is(err, netutil.ErrAddrInUse) || !errors.As(err, &inUse) || !slices.Contains(inUse.PIDs, os.Getpid()) {
		t.Fatalf("ensure beside a racing server: %v, want ErrAddrInUse naming pid %d", err, os.Getpid())
	}
	if len(p.byAddr[addr]) != 0 || p.bound[addr] != "" {
		t.Fatalf("the pool kept %v (bound %q) after giving the address up", p.byAddr[addr], p.bound[addr])
	}
	other.Close()
	other = nil
	p.listen = listenFile
	if err := p.ensure(addr, 2); err != nil || len(p.byAddr[addr]) != 2 {
		t.Fatalf("ensure once the address is free: %v, %d sockets", err, len(p.byAddr[addr]))
	}
}

// The pool's own sockets do not count, even for another configured
// address that overlaps them (a wildcard on the same port).
func TestEnsureOwnOverlappingSockets(t *testing.T) {
	p := newSocketPool()
	defer p.closeAll()
	addr := freeTestAddr(t)
	if err := p.ensure(addr, 2); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if err := p.ensure(":"+port, 2); err != nil {
		t.Fatalf("a wildcard beside the pool's own %s: %v", addr, err)
	}
	if err := p.ensure(addr, 3); err != nil { // TTIN: one more, no check
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(port); n == 0 || len(p.byAddr[addr]) != 3 {
		t.Fatalf("port %s, %d sockets", port, len(p.byAddr[addr]))
	}
}
